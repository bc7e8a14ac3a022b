/* Word lists the generator draws realistic text from. Every person, company and number is made up. */

export const FIRST_NAMES = [
  'Olivia', 'Liam', 'Amara', 'Noah', 'Sofia', 'Mateo', 'Priya', 'Arjun', 'Chen', 'Mei', 'Fatima', 'Omar', 'Hannah',
  'Lukas', 'Zoe', 'Kwame', 'Aiko', 'Diego', 'Ingrid', 'Tomasz', 'Leila', 'Samuel', 'Grace', 'Ravi', 'Elena', 'Jonas',
  'Chloe', 'Ethan', 'Nadia', 'Malik', 'Yuki', 'Carlos', 'Freya', 'Hugo', 'Isabel', 'Jamal', 'Keiko', 'Lars', 'Maya',
  'Nikolai', 'Oscar', 'Paula', 'Quentin', 'Rosa', 'Sanjay', 'Tara', 'Umar', 'Vera', 'Wei', 'Ximena', 'Yusuf', 'Zara',
];

export const LAST_NAMES = [
  'Okafor', 'Schmidt', 'Nguyen', 'Garcia', 'Patel', 'Kowalski', 'Johansson', 'Haddad', 'Tanaka', 'Murphy', 'Rossi',
  'Dubois', 'Müller', 'Silva', 'Kim', 'Andersen', 'Cohen', 'Mensah', 'Novak', 'Ivanova', 'Fernández', 'Lindqvist',
  'OBrien', 'Hughes', 'Castillo', 'Banerjee', 'Yamamoto', 'Walker', 'Bennett', 'Costa', 'Petrov', 'Adeyemi', 'Larsen',
  'Moreau', 'Sato', 'Reyes', 'Ahmed', 'Fischer', 'Clarke', 'Horvat', 'Santos', 'Wright', 'Rahman', 'Lopez', 'Brooks',
];

/** The employer's own domains: addresses here are work contact, not personal contact data. */
export const WORK_DOMAINS = ['acme.io', 'acme-corp.com', 'northwind.dev', 'contoso.co'];
export const VENDOR_DOMAINS = ['stripe.com', 'atlassian.net', 'vendorhub.io', 'datadoghq.com', 'salesforce.com'];
export const PERSONAL_EMAIL_DOMAINS = [
  'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'yahoo.com', 'yahoo.co.uk', 'icloud.com',
  'me.com', 'proton.me', 'protonmail.com', 'gmx.de', 'web.de', 'aol.com', 'mail.com', 'hey.com', 'fastmail.com',
];

export const US_PLACES = [
  ['Springfield', 'IL', '62704'], ['Austin', 'TX', '78704'], ['Portland', 'OR', '97214'], ['Denver', 'CO', '80206'],
  ['Madison', 'WI', '53703'], ['Raleigh', 'NC', '27605'], ['Tucson', 'AZ', '85719'], ['Columbus', 'OH', '43215'],
  ['Burlington', 'VT', '05401'], ['Boise', 'ID', '83702'], ['Oakland', 'CA', '94610'], ['Brooklyn', 'NY', '11215'],
] as const;
export const UK_PLACES = [
  ['Leeds', 'LS6 2AB'], ['Bristol', 'BS7 8JT'], ['Manchester', 'M14 5RZ'], ['Glasgow', 'G12 8QQ'], ['Brighton', 'BN1 6FH'],
  ['Cambridge', 'CB1 3NE'],
] as const;
export const STREETS = [
  'Maple Avenue', 'Oak Street', 'Willow Lane', 'Cedar Court', 'Birch Road', 'Elm Drive', 'Lakeview Terrace',
  'Hawthorn Close', 'Kingsley Road', 'Orchard Way', 'Pinecrest Boulevard', 'Sycamore Place', 'Juniper Street',
];

export const WORK_CHAT_APPS = ['Slack', 'Microsoft Teams', 'Zoom', 'Google Chat', 'Mattermost', 'Webex'];
export const WORK_CHANNELS = ['#eng-backend', '#incidents', '#release-train', '#design-review', '#data-platform', '#sre', '#product', '#random', '#frontend', '#support-escalations'];

export const PERSONAL_MESSENGERS = [
  { app: 'WhatsApp', url: 'https://web.whatsapp.com/' },
  { app: 'Signal', url: undefined },
  { app: 'Messenger', url: 'https://www.messenger.com/t/100004823' },
  { app: 'Messages', url: undefined },
  { app: 'iMessage', url: undefined },
  { app: 'Telegram', url: 'https://web.telegram.org/k/' },
  { app: 'Telegram Desktop', url: undefined },
  { app: 'WeChat', url: undefined },
  { app: 'Viber', url: undefined },
  { app: 'LINE', url: undefined },
  { app: 'Threema', url: undefined },
  { app: 'Google Chrome', url: 'https://web.whatsapp.com/' },
  { app: 'Safari', url: 'https://www.messenger.com/t/jess.oakes' },
  { app: 'Firefox', url: 'https://web.telegram.org/a/#-1002231' },
  { app: 'Google Chrome', url: 'https://www.instagram.com/direct/t/1780023/' },
  { app: 'Microsoft Edge', url: 'https://messages.google.com/web/conversations/42' },
] as const;

export const PATIENT_PORTALS = [
  { app: 'MyChart', url: 'https://mychart.uchealth.org/MyChart/app/messaging' },
  { app: 'Google Chrome', url: 'https://mychart.kp.org/mychart/inside.asp' },
  { app: 'Safari', url: 'https://mychart.clevelandclinic.org/Clinical/TestResults' },
  { app: 'FollowMyHealth', url: 'https://app.followmyhealth.com/inbox' },
  { app: 'Google Chrome', url: 'https://www.zocdoc.com/patient/appointments' },
  { app: 'Teladoc', url: undefined },
  { app: 'Google Chrome', url: 'https://patient.athenahealth.com/messages' },
  { app: 'Firefox', url: 'https://healow.com/apps/patient/results' },
  { app: 'Google Chrome', url: 'https://www.nhsapp.service.nhs.uk/appointments' },
  { app: 'NHS App', url: undefined },
  { app: 'Microsoft Edge', url: 'https://my.onemedical.com/messages' },
] as const;

export const TAX_SOFTWARE = ['TurboTax', 'H&R Block Tax Software', 'TaxAct', 'FreeTaxUSA', 'TaxSlayer'] as const;
export const TAX_SITES = [
  'https://www.irs.gov/payments/direct-pay',
  'https://sa.www4.irs.gov/irfof/lang/en/irfofgetstatus.jsp',
  'https://www.irs.gov/individuals/get-transcript',
  'https://www.tax.service.gov.uk/self-assessment/ind/statements',
  'https://www.gov.uk/log-in-file-self-assessment-tax-returns',
  'https://online.hmrc.gov.uk/self-assessment',
  'https://myturbotax.intuit.com/',
  'https://www.hrblock.com/myblock/',
  'https://www.ftb.ca.gov/myftb/',
] as const;

export const DIAGNOSES = [
  ['type 2 diabetes', 'E11.9'], ['major depressive disorder', 'F32.1'], ['generalized anxiety disorder', 'F41.1'],
  ['essential hypertension', 'I10'], ['asthma', 'J45.909'], ['hypothyroidism', 'E03.9'], ['migraine with aura', 'G43.109'],
  ['ADHD', 'F90.0'], ['bipolar II disorder', 'F31.81'], ['rheumatoid arthritis', 'M06.9'], ['iron deficiency anemia', 'D50.9'],
  ['PTSD', 'F43.10'], ['celiac disease', 'K90.0'], ['sleep apnea', 'G47.33'], ['chronic kidney disease stage 3', 'N18.30'],
  ['endometriosis', 'N80.9'], ['atrial fibrillation', 'I48.91'], ['Crohn\u2019s disease', 'K50.90'], ['panic disorder', 'F41.0'],
  ['gestational diabetes', 'O24.419'],
] as const;

export const MEDICATIONS = [
  ['metformin', '500 mg'], ['sertraline', '50 mg'], ['lisinopril', '10 mg'], ['levothyroxine', '75 mcg'], ['escitalopram', '10 mg'],
  ['atorvastatin', '20 mg'], ['adderall XR', '20 mg'], ['lamotrigine', '100 mg'], ['albuterol inhaler', '90 mcg'],
  ['prednisone', '20 mg'], ['bupropion SR', '150 mg'], ['methotrexate', '15 mg'], ['insulin glargine', '20 units'],
  ['fluoxetine', '20 mg'], ['apixaban', '5 mg'], ['quetiapine', '25 mg'], ['prenatal vitamins', '1 tablet'], ['propranolol', '40 mg'],
] as const;

export const LAB_RESULTS = [
  'HbA1c 7.8%', 'LDL cholesterol 164 mg/dL', 'TSH 6.2 mIU/L', 'eGFR 52 mL/min', 'hemoglobin 9.8 g/dL', 'ferritin 8 ng/mL',
  'fasting glucose 131 mg/dL', 'hCG 1,480 mIU/mL', 'PSA 5.1 ng/mL', 'vitamin D 14 ng/mL', 'ALT 88 U/L', 'CRP 22 mg/L',
  'white blood cell count 13.4 x10^9/L', 'HIV-1/2 antibody screen non-reactive', 'A1C 6.9 %',
] as const;

export const SHOPS = ['northgear', 'paperlane', 'bluecart', 'kitchenly', 'trailhead-outfitters', 'pixelprint'];
export const REPOS = ['api-gateway', 'billing-service', 'web-console', 'ingest-worker', 'mobile-app', 'infra-terraform', 'design-system'];
export const CODE_FILES = ['server.ts', 'handler.go', 'config.py', 'main.rs', 'settings.yaml', 'docker-compose.yml', 'client.tsx', 'Makefile', 'deploy.sh', '.env.example'];
export const WORK_TOPICS = [
  'the migration plan', 'the Q3 roadmap', 'the flaky integration test', 'the on-call handover', 'the pricing page copy',
  'the API rate limits', 'the retro notes', 'the load test results', 'the customer escalation', 'the hiring loop',
];
