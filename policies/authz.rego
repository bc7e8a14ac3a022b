# Read decisions for activity-vault. Default deny: a scope comes only from the grant of the
# requesting token's own research team, for a purpose that grant names, and never wider than
# what the request asked for. The vault re-checks the result with invariants of its own.
package vault.authz

import rego.v1

default decision := {"allow": false, "reasons": ["default_deny"]}

decision := {"allow": true, "scope": scope, "reasons": [concat(":", ["granted_by", team])]} if {
	count(deny_reasons) == 0
	team := the_team
}

decision := {"allow": false, "reasons": sort(deny_reasons)} if {
	count(deny_reasons) > 0
}

subject := object.get(input, "subject", {})

request := object.get(input, "request", {})

roles := {r | some r in object.get(subject, "roles", []); is_string(r)}

teams := {t | some t in object.get(subject, "teams", []); is_string(t); t != ""}

purpose := p if {
	p := subject.purpose
	is_string(p)
	p != ""
}

# Teams of the token that hold a grant, and those whose grant names the token's purpose.
granted_teams := {t | some t in teams; data.grants[t]}

applicable_teams := {t | some t in granted_teams; purpose in data.grants[t].purposes}

the_team := t if {
	count(applicable_teams) == 1
	some t in applicable_teams
}

grant := data.grants[the_team]

requested(field) := {x | some x in object.get(request, field, [])}

# An empty list in the request means "all the grant allows".
wanted(field) := requested(field) if count(requested(field)) > 0

wanted(field) := {x | some x in grant[field]} if count(requested(field)) == 0

max_sensitivity := s if {
	s := request.max_sensitivity
	is_number(s)
} else := grant.max_sensitivity

scope := {
	"org_units": sort(wanted("org_units")),
	"kinds": sort(wanted("kinds")),
	"max_sensitivity": max_sensitivity,
	"from": request.from,
	"to": request.to,
}

deny_reasons contains "unsupported_action" if input.action != "dataset.request"

deny_reasons contains "not_training_job" if not "training-job" in roles

deny_reasons contains "no_purpose" if not purpose

deny_reasons contains "purpose_mismatch" if {
	purpose
	request.purpose != purpose
}

deny_reasons contains "no_team" if count(teams) == 0

deny_reasons contains "no_grant_for_team" if {
	count(teams) > 0
	count(granted_teams) == 0
}

deny_reasons contains "purpose_not_granted" if {
	count(granted_teams) > 0
	count(applicable_teams) == 0
}

deny_reasons contains "ambiguous_team" if count(applicable_teams) > 1

deny_reasons contains "org_unit_outside_grant" if {
	some u in requested("org_units")
	not u in grant.org_units
}

deny_reasons contains "kind_outside_grant" if {
	some k in requested("kinds")
	not k in grant.kinds
}

deny_reasons contains "sensitivity_outside_grant" if max_sensitivity > grant.max_sensitivity

deny_reasons contains "bad_time_window" if not valid_window

valid_window if {
	is_string(request.from)
	is_string(request.to)
	request.from < request.to
}
