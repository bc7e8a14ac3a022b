export { CATEGORIES, CATEGORY_LEVEL, type Category, type Classification } from './types.js';
export {
  type AppsAndDomains,
  type ClassifierListChange,
  type ClassifierLists,
  compareClassifierLists,
  defaultClassifierListsFile,
  loadClassifierLists,
  parseClassifierLists,
} from './lists.js';
export { Classifier } from './classifier.js';
export { SECRETLINT_RULES } from './credentials.js';
