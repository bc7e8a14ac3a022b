package vault.authz_test

import rego.v1

import data.vault.authz

job := {"sub": "job-1", "roles": ["training-job"], "teams": ["team-autocomplete"], "purpose": "autocomplete-model"}

ask := {
	"purpose": "autocomplete-model",
	"org_units": ["engineering"],
	"kinds": ["keystroke"],
	"from": "2026-11-01T00:00:00.000Z",
	"to": "2026-11-08T00:00:00.000Z",
}

decide(subject, request) := d if {
	d := authz.decision with input as {"subject": subject, "action": "dataset.request", "request": request}
}

denied_for(subject, request, reason) if {
	d := decide(subject, request)
	d.allow == false
	reason in d.reasons
}

test_team_gets_its_own_org_unit if {
	d := decide(job, ask)
	d.allow == true
	d.scope == {
		"org_units": ["engineering"],
		"kinds": ["keystroke"],
		"max_sensitivity": 2,
		"from": "2026-11-01T00:00:00.000Z",
		"to": "2026-11-08T00:00:00.000Z",
	}
	d.reasons == ["granted_by:team-autocomplete"]
}

test_empty_request_lists_mean_the_whole_grant if {
	d := decide(job, object.union(ask, {"org_units": [], "kinds": []}))
	d.allow == true
	d.scope.org_units == ["engineering"]
	d.scope.kinds == ["keystroke", "prompt"]
}

test_request_can_narrow_sensitivity if {
	d := decide(job, object.union(ask, {"max_sensitivity": 1}))
	d.scope.max_sensitivity == 1
}

test_no_team_is_denied if denied_for(object.union(job, {"teams": []}), ask, "no_team")

test_missing_teams_claim_is_denied if denied_for(object.remove(job, ["teams"]), ask, "no_team")

test_empty_string_team_is_denied if denied_for(object.union(job, {"teams": [""]}), ask, "no_team")

test_unknown_team_is_denied if denied_for(object.union(job, {"teams": ["team-nobody"]}), ask, "no_grant_for_team")

test_wrong_role_is_denied if {
	some role in ["ingest-agent", "security-admin", "auditor", "privacy-officer", "employee"]
	denied_for(object.union(job, {"roles": [role]}), ask, "not_training_job")
}

test_no_roles_is_denied if denied_for(object.remove(job, ["roles"]), ask, "not_training_job")

test_no_purpose_is_denied if denied_for(object.remove(job, ["purpose"]), ask, "no_purpose")

test_empty_purpose_is_denied if denied_for(object.union(job, {"purpose": ""}), ask, "no_purpose")

test_wrong_purpose_is_denied if {
	other := object.union(job, {"purpose": "ads-targeting"})
	denied_for(other, object.union(ask, {"purpose": "ads-targeting"}), "purpose_not_granted")
}

test_request_purpose_must_match_token if denied_for(job, object.union(ask, {"purpose": "ads-targeting"}), "purpose_mismatch")

test_other_teams_org_unit_is_denied if denied_for(job, object.union(ask, {"org_units": ["design"]}), "org_unit_outside_grant")

test_kind_outside_grant_is_denied if denied_for(job, object.union(ask, {"kinds": ["screenshot"]}), "kind_outside_grant")

test_sensitivity_above_grant_is_denied if denied_for(job, object.union(ask, {"max_sensitivity": 3}), "sensitivity_outside_grant")

test_two_applicable_teams_are_ambiguous if {
	grants := {
		"a": {"org_units": ["x"], "kinds": ["click"], "max_sensitivity": 1, "purposes": ["p"]},
		"b": {"org_units": ["y"], "kinds": ["click"], "max_sensitivity": 1, "purposes": ["p"]},
	}
	d := authz.decision with input as {
		"subject": {"roles": ["training-job"], "teams": ["a", "b"], "purpose": "p"},
		"action": "dataset.request",
		"request": {"purpose": "p", "from": "2026-01-01T00:00:00.000Z", "to": "2026-02-01T00:00:00.000Z"},
	}
		with data.grants as grants
	d.allow == false
	"ambiguous_team" in d.reasons
}

test_a_second_team_without_the_purpose_does_not_widen if {
	d := decide(object.union(job, {"teams": ["team-autocomplete", "team-ux-agents"]}), ask)
	d.allow == true
	d.scope.org_units == ["engineering"]
}

test_bad_time_window_is_denied if denied_for(job, object.union(ask, {"from": "2026-11-08T00:00:00.000Z", "to": "2026-11-01T00:00:00.000Z"}), "bad_time_window")

test_missing_time_window_is_denied if denied_for(job, object.remove(ask, ["from", "to"]), "bad_time_window")

test_other_actions_are_denied if {
	d := authz.decision with input as {"subject": job, "action": "records.delete", "request": ask}
	d.allow == false
	"unsupported_action" in d.reasons
}

test_no_input_is_denied if {
	d := authz.decision with input as {}
	d.allow == false
}

test_deny_lists_every_reason if {
	d := decide({"roles": [], "teams": []}, {})
	d.allow == false
	{"not_training_job", "no_purpose", "no_team", "bad_time_window"} == {r | some r in d.reasons} & {"not_training_job", "no_purpose", "no_team", "bad_time_window"}
}
