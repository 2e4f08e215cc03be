package web

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// obj is a JSON object of the OpenAPI document.
type obj = map[string]any

// The document is built in Go so that its lists (types, states, tabs,
// roles, limits) come from the same values the handlers check; a test
// compares its paths with the route table both ways.

func strEnum[T ~string](values []T) obj {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return obj{"type": "string", "enum": out}
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func str(description string) obj { return obj{"type": "string", "description": description} }

func nullable(t, description string) obj {
	return obj{"type": []string{t, "null"}, "description": description}
}

func dateTime(description string) obj {
	return obj{"type": "string", "format": "date-time", "description": description}
}

func nullableDateTime(description string) obj {
	return obj{"type": []string{"string", "null"}, "format": "date-time", "description": description}
}

func object(required []string, props obj) obj {
	o := obj{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func jsonBody(schema obj) obj {
	return obj{"required": true, "content": obj{"application/json": obj{"schema": schema}}}
}

func answer(description string, schema obj) obj {
	a := obj{"description": description}
	if schema != nil {
		a["content"] = obj{"application/json": obj{"schema": schema}}
	}
	return a
}

// staffAnswers are the answers every staff call may give besides its own.
func staffAnswers(own obj) obj {
	out := obj{
		"401": answer("No key, or an unknown or revoked one (WWW-Authenticate: Bearer).", ref("Error")),
		"403": answer("The key's role does not allow this.", ref("Error")),
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

func referenceParam() obj {
	return obj{"name": "reference", "in": "path", "required": true, "schema": obj{"type": "string"},
		"description": "The request's reference, e.g. RD-7K4M-2Q9X."}
}

func queryParam(name, description string, schema obj) obj {
	return obj{"name": name, "in": "query", "required": false, "schema": schema, "description": description}
}

// openAPIDocument describes the public intake and the staff API.
func (s *Server) openAPIDocument() obj {
	bearer := []obj{{"apiKey": []string{}}}
	requestDetail := answer("The request as it now is, with its event log and notes.", ref("RequestDetail"))
	notFound := answer("No request has this reference.", ref("Error"))
	invalid := answer("A field is missing or wrong; errors name each field.", ref("Errors"))
	malformed := answer("The body is not a JSON object.", ref("Error"))
	refused := answer("The request's state does not allow this (the lifecycle's rule, as in the staff workspace); nothing changed.", ref("Error"))

	schemas := obj{
		"Error":  object([]string{"error"}, obj{"error": str("What went wrong, in the caller's language (Accept-Language).")}),
		"Errors": object([]string{"errors"}, obj{"errors": obj{"type": "object", "additionalProperties": obj{"type": "string"}, "description": "Field name → message."}}),
		"Submission": object([]string{"type", "full_name", "email", "consent"}, obj{
			"type":         strEnum(request.AllTypes()),
			"full_name":    obj{"type": "string", "maxLength": request.MaxLength("full_name")},
			"email":        obj{"type": "string", "format": "email", "maxLength": request.MaxLength("email")},
			"phone":        obj{"type": "string", "maxLength": request.MaxLength("phone")},
			"account_id":   obj{"type": "string", "maxLength": request.MaxLength("account_id")},
			"details":      obj{"type": "string", "maxLength": request.MaxLength("details")},
			"locale":       strEnum(request.Locales()),
			"on_behalf":    obj{"type": "boolean"},
			"subject_name": obj{"type": "string", "maxLength": request.MaxLength("subject_name"), "description": "Required when on_behalf."},
			"relationship": obj{"type": "string", "enum": []string{"parent", "guardian", "representative"}, "description": "Required when on_behalf."},
			"consent":      obj{"type": "boolean", "description": "Must be true: the person confirms the request is theirs or made with authority, and that they have read how it will be handled (answering does not depend on consent)."},
			"access_scope": obj{"type": "string", "enum": []string{"information", "copy"}, "description": "Required for access."},
			"correction":   obj{"type": "string", "maxLength": request.MaxLength("correction"), "description": "Required for rectification: what is wrong and what is right."},
			"processing":   obj{"type": "string", "maxLength": request.MaxLength("processing"), "description": "Required for restriction, objection and consent_withdrawal: which processing."},
		}),
		"Receipt": object([]string{"reference", "status", "received_at", "due_at"}, obj{
			"reference":   str("The request's reference."),
			"status":      strEnum([]request.Status{request.Unverified, request.New}),
			"received_at": dateTime("When it was received."),
			"due_at":      dateTime("When the answer is due."),
			"status_url": obj{"type": "string", "format": "uri", "description": "The requester's secret status page: only in the answer to a caller " +
				"whose API key vouched for the requester. The public intake never gets it; the link goes to the requester's address by email."},
		}),
		"IdentityCheck": object([]string{"state", "method", "by", "at"}, obj{
			"state": obj{"type": "string", "enum": []request.IdentityState{request.IdentityNotNeeded, request.IdentityMissing, request.IdentityDone},
				"description": "Whether completing the request needs a staff-recorded identity check (IDENTITY_CHECK), and whether one was recorded."},
			"method": obj{"oneOf": []obj{strEnum(request.IdentityMethods()), {"type": "null"}}},
			"by":     nullable("string", "The member of staff who checked, or \"API: \" and the key's name."),
			"at":     nullableDateTime("When."),
		}),
		"NewIdentityCheck": object([]string{"method", "note"}, obj{
			"method": strEnum(request.IdentityMethods()),
			"note":   obj{"type": "string", "maxLength": request.MaxIdentityNote, "description": "What was seen or done; seen by staff only, kept sealed."},
		}),
		"StaffRef": object([]string{"id", "name"}, obj{"id": obj{"type": "integer"}, "name": obj{"type": "string"}}),
		"RequestSummary": object([]string{"reference", "type", "status", "full_name", "email", "on_behalf", "received_at", "due_at", "closed_at", "assignee", "possible_duplicate", "email_failed"}, obj{
			"reference":          obj{"type": "string"},
			"type":               strEnum(request.AllTypes()),
			"status":             strEnum(request.Statuses()),
			"full_name":          obj{"type": "string"},
			"email":              obj{"type": "string"},
			"on_behalf":          obj{"type": "boolean"},
			"received_at":        dateTime("When it was received."),
			"due_at":             dateTime("When the answer is due (after any extension)."),
			"closed_at":          nullableDateTime("When it was closed; null while open."),
			"assignee":           obj{"oneOf": []obj{ref("StaffRef"), {"type": "null"}}},
			"possible_duplicate": obj{"type": "boolean", "description": "Linked to an earlier open request of the same person for the same right."},
			"email_failed":       obj{"type": "boolean", "description": "One of its emails failed (delivery keeps retrying)."},
		}),
		"RequestList": object([]string{"requests", "next_cursor"}, obj{
			"requests":    obj{"type": "array", "items": ref("RequestSummary")},
			"next_cursor": nullable("string", "Pass as cursor for the next page; null on the last page."),
		}),
		"Event": object([]string{"id", "kind", "actor", "actor_id", "actor_name", "from", "to", "data", "at"}, obj{
			"id":         obj{"type": "integer"},
			"kind":       str("What happened: received, confirmed, started, assigned, information_requested, extended, completed, rejected, note_added, ..."),
			"actor":      obj{"type": "string", "enum": []string{"requester", "staff", "system"}},
			"actor_id":   nullable("integer", "The member of staff behind a staff action; null for an API key (its id is in data.api_key_id)."),
			"actor_name": str("The member of staff, or \"API: \" and the key's name."),
			"from":       str("The state before (\"\" when the event changed none)."),
			"to":         str("The state after."),
			"data":       obj{"type": "object", "description": "Details of the event; no personal data."},
			"at":         dateTime("When."),
		}),
		"Note": object([]string{"id", "author", "text", "at"}, obj{
			"id":     obj{"type": "integer"},
			"author": str("The member of staff, or \"API: \" and the key's name."),
			"text":   obj{"type": "string"},
			"at":     dateTime("When."),
		}),
		"RequestDetail": object([]string{"reference", "type", "status", "locale", "received_at", "due_at", "events", "notes"}, obj{
			"reference":       obj{"type": "string"},
			"type":            strEnum(request.AllTypes()),
			"status":          strEnum(request.Statuses()),
			"locale":          strEnum(request.Locales()),
			"received_at":     dateTime("When it was received."),
			"confirmed_at":    nullableDateTime("When the requester confirmed their address."),
			"due_at":          dateTime("When the answer is due (after any extension)."),
			"original_due_at": nullableDateTime("The first due date, when extended."),
			"extensions":      obj{"type": "integer"},
			"rule":            str("The deadline rule that set due_at."),
			"legal_ref":       str("Its legal reference."),
			"assignee":        obj{"oneOf": []obj{ref("StaffRef"), {"type": "null"}}},
			"outcome_reason":  str("The ground of a rejection."),
			"full_name":       obj{"type": "string"},
			"email":           obj{"type": "string"},
			"phone":           obj{"type": "string"},
			"account_id":      obj{"type": "string"},
			"details":         obj{"type": "string"},
			"on_behalf":       obj{"type": "boolean"},
			"subject_name":    obj{"type": "string"},
			"relationship":    obj{"type": "string"},
			"access_scope":    obj{"type": "string"},
			"correction":      obj{"type": "string"},
			"processing":      obj{"type": "string"},
			"identity_check":  ref("IdentityCheck"),
			"fulfilment":      obj{"oneOf": []obj{ref("Fulfilment"), {"type": "null"}}, "description": "Answering from the data map (docs/fulfillment.md); null without a data map, or before a gathering or an approved plan."},
			"events":          obj{"type": "array", "items": ref("Event")},
			"notes":           obj{"type": "array", "items": ref("Note")},
		}),
		"Transition": object([]string{"to"}, obj{
			"to": strEnum(apiTransitionTargets()),
			"note": str("awaiting_requester: the message to the requester; completed: the response; rejected: the text. " +
				"Sent to the requester by email. Not used with in_progress."),
			"reason":         obj{"type": "string", "enum": request.RejectionReasons(), "description": "rejected only: the ground, one of the request's own rule set (docs/api.md)."},
			"access_package": obj{"type": "boolean", "description": "completed only: send the access package the data map's gathering built as the answer's file (409 while none is built)."},
		}),
		"Fulfilment": object([]string{"kind", "started_at", "plan_digest", "stale", "done", "steps"}, obj{
			"kind":        obj{"type": "string", "enum": []string{"gather", "execute"}, "description": "gather: access, portability; execute: an approved plan."},
			"started_at":  dateTime("When it started (or was approved)."),
			"approved_at": nullableDateTime("When the plan was approved (execute)."),
			"approved_by": nullable("string", "Who approved it: a member of staff, or \"API: \" and the key's name."),
			"plan_digest": str("The digest of the plan it runs."),
			"stale":       obj{"type": "boolean", "description": "The data map changed since it started: start again."},
			"done":        obj{"type": "boolean", "description": "Every step is done (and, for a gathering, the package is built)."},
			"steps": obj{"type": "array", "items": object([]string{"id", "system", "state", "attempts", "rows", "updated_at"}, obj{
				"id":       obj{"type": "integer"},
				"system":   str("The data map's system."),
				"state":    obj{"type": "string", "enum": []string{"pending", "running", "done", "failed", "waiting"}},
				"attempts": obj{"type": "integer"},
				"last_error": obj{"oneOf": []obj{object([]string{"code", "text"}, obj{
					"code": str("unreachable, timeout, busy, credentials, no_change_url, hash_key, schema, permission, constraint, value, refused, no_answer, bad_answer, map_changed, not_configured or other."),
					"text": str("The reason in words, in the key's language (Accept-Language)."), "detail": str("What the operator's HTTP system said, if anything."),
				}), {"type": "null"}}},
				"rows":       obj{"type": "object", "description": "Rows gathered or changed per collection.", "additionalProperties": obj{"type": "integer"}},
				"calls":      obj{"type": "object", "description": "An HTTP system's answer per collection.", "additionalProperties": obj{"type": "string"}},
				"updated_at": dateTime("When the step last changed."),
			})},
			"package": obj{"oneOf": []obj{object([]string{"built_at", "size", "rows", "systems"}, obj{
				"built_at": dateTime("When it was built."), "size": obj{"type": "integer"}, "rows": obj{"type": "integer"},
				"systems": obj{"type": "array", "items": object([]string{"name", "collections"}, obj{"name": obj{"type": "string"}, "collections": obj{"type": "object", "additionalProperties": obj{"type": "integer"}}})},
			}), {"type": "null"}}},
			"plan": obj{"oneOf": []obj{ref("Plan"), {"type": "null"}}},
		}),
		"Plan": object([]string{"type", "digest", "map_digest", "systems"}, obj{
			"type":        strEnum(request.AllTypes()),
			"digest":      str("Approve exactly this plan by this digest."),
			"map_digest":  str("The data map it was made under."),
			"corrections": obj{"type": "array", "items": ref("Correction")},
			"systems":     obj{"type": "array", "items": obj{"type": "object", "description": "Per system and collection: the rows, the action (update, delete, keep, call), each field's change and, for a kept field, why (docs/fulfillment.md)."}},
		}),
		"Correction": object([]string{"collection", "field", "value"}, obj{
			"collection": str("A collection of the data map."), "field": str("One of its fields."), "value": str("The corrected value."),
		}),
		"PlanRequest": object(nil, obj{
			"corrections": obj{"type": "array", "items": ref("Correction"), "description": "rectification only: the corrected values, at most one per field."},
			"digest":      str("plan/approve only: the digest of the plan approved."),
		}),
		"Assign": object([]string{"staff_id"}, obj{
			"staff_id": nullable("integer", "An active member of staff who works requests (an admin or an agent, never an auditor), or null for nobody. They are emailed."),
		}),
		"NewNote": object([]string{"text"}, obj{
			"text": obj{"type": "string", "maxLength": request.MaxNoteLength, "description": "Seen by staff only."},
		}),
	}

	listParams := []any{
		queryParam("tab", "A queue tab (default open).", strEnum(apiTabs())),
		queryParam("status", "Only these states (comma-separated or repeated).", obj{"type": "string"}),
		queryParam("type", "Only these types (comma-separated or repeated).", obj{"type": "string"}),
		queryParam("assignee", "A staff id, or none for unassigned.", obj{"type": "string"}),
		queryParam("due_from", "Due at or after (RFC 3339, or a date in the operator's zone).", obj{"type": "string"}),
		queryParam("due_to", "Due before (RFC 3339, or a date in the operator's zone).", obj{"type": "string"}),
		queryParam("q", "Search: a reference, an email (prefix), or part of a name.", obj{"type": "string"}),
		queryParam("steps", "failed: only requests whose answer from the data map has a step that failed (\"gathering failed\").", obj{"type": "string", "enum": []string{"failed"}}),
		queryParam("limit", "Page size.", obj{"type": "integer", "minimum": 1, "maximum": store.MaxPageSize, "default": store.DefaultPageSize}),
		queryParam("cursor", "next_cursor of the previous page.", obj{"type": "string"}),
	}
	roleNote := func(perm auth.Perm) string {
		var roles []string
		for _, r := range auth.Roles() {
			if auth.Can(r, perm) {
				roles = append(roles, string(r))
			}
		}
		slices.Sort(roles)
		out := "Keys with the role "
		for i, r := range roles {
			if i > 0 {
				out += " or "
			}
			out += r
		}
		return out + "."
	}
	read, work, vouch := roleNote(auth.PermRequestsRead), roleNote(auth.PermRequestsWork), roleNote(auth.PermRequestsVouch)
	withRef := []any{referenceParam()}

	paths := obj{
		"/api/v1/openapi.json": obj{
			"get": obj{"operationId": "openapi", "summary": "This document.", "security": []obj{},
				"responses": obj{"200": obj{"description": "The OpenAPI document.", "content": obj{"application/json": obj{}}}}},
		},
		"/api/v1/requests": obj{
			"post": obj{
				"operationId": "submitRequest",
				"summary":     "File a request (the same fields and rules as the form).",
				"description": "Without a key: the public intake. The answer carries no link: the status page (and, with VERIFY_EMAIL, the " +
					"confirmation link) reaches the requester only by email, to the address given, so that filing in someone else's name gives " +
					"the filer nothing. With an API key (" + vouch[:len(vouch)-1] + "): the operator's own system files for a requester its " +
					"sign-in already proved; the request starts confirmed (new), its identity check is recorded as done by the key, no " +
					"confirmation email is sent (the acknowledgement is), the per-address limit does not apply, and the answer includes " +
					"status_url. A key that is sent but unknown, revoked or of another role is refused: never taken as no key.",
				"security": []obj{{}, {"apiKey": []string{}}},
				"parameters": []any{obj{"name": "Idempotency-Key", "in": "header", "required": false, "schema": obj{"type": "string", "maxLength": 255},
					"description": "A retry with the same key and body answers with the first request's reference, status and dates, and emails nothing; " +
						"another body is refused. Keys are scoped to the requester's address (and to the API key that sent them), so clients never collide."}},
				"requestBody": jsonBody(ref("Submission")),
				"responses": obj{
					"201": answer("Filed. With a vouching key, Location is the request in the staff API.", ref("Receipt")),
					"400": malformed,
					"401": answer("An Authorization header with a key that is malformed, unknown or revoked.", ref("Error")),
					"403": answer("The key's role may not vouch for requesters.", ref("Error")),
					"413": answer("Too large.", ref("Error")), "415": answer("Not application/json.", ref("Error")),
					"422": invalid, "429": answer("Too many from this client address (INTAKE_RATE_LIMIT, the public intake only), or the email address has had its acknowledgements for today (ACKNOWLEDGEMENTS_PER_DAY); Retry-After says when to try again.", ref("Error")),
				},
			},
			"get": obj{
				"operationId": "listRequests", "summary": "The queue: requests by due date, a page at a time. " + read,
				"security": bearer, "parameters": listParams,
				"responses": staffAnswers(obj{"200": answer("A page.", ref("RequestList")), "422": invalid}),
			},
		},
		"/api/v1/requests/{reference}": obj{
			"get": obj{
				"operationId": "getRequest", "summary": "One request with its event log and notes. " + read,
				"security": bearer, "parameters": withRef,
				"responses": staffAnswers(obj{"200": requestDetail, "404": notFound}),
			},
		},
		"/api/v1/requests/{reference}/transitions": obj{
			"post": obj{
				"operationId": "transitionRequest",
				"summary": "Move the request: start work, ask the requester, complete or reject (the same rules as the staff workspace; " +
					"completing a request whose type needs an identity check is 409 until one is recorded). " + work,
				"security": bearer, "parameters": withRef, "requestBody": jsonBody(ref("Transition")),
				"responses": staffAnswers(obj{"200": requestDetail, "400": malformed, "404": notFound, "409": refused,
					"415": answer("Not application/json.", ref("Error")), "422": invalid}),
			},
		},
		"/api/v1/requests/{reference}/assign": obj{
			"post": obj{
				"operationId": "assignRequest", "summary": "Give the request to a member of staff, or to nobody. " + work,
				"security": bearer, "parameters": withRef, "requestBody": jsonBody(ref("Assign")),
				"responses": staffAnswers(obj{"200": requestDetail, "400": malformed, "404": notFound,
					"415": answer("Not application/json.", ref("Error")), "422": invalid}),
			},
		},
		"/api/v1/requests/{reference}/identity": obj{
			"post": obj{
				"operationId": "recordIdentityCheck",
				"summary": "Record how the requester's identity was established (a method and a note), as the workspace's identity check form does. " +
					"Completing a request whose type needs a check (IDENTITY_CHECK) is refused until one is recorded. Once per request. " + work,
				"security": bearer, "parameters": withRef, "requestBody": jsonBody(ref("NewIdentityCheck")),
				"responses": staffAnswers(obj{"200": requestDetail, "400": malformed, "404": notFound, "409": refused,
					"415": answer("Not application/json.", ref("Error")), "422": invalid}),
			},
		},
		"/api/v1/requests/{reference}/gather": obj{
			"post": obj{
				"operationId": "gatherData",
				"summary": "Gather the requester's data from the data map (access, portability): one step per system, then the access package, " +
					"kept as a draft until it is sent with the answer (transitions, access_package). A new gathering replaces the package. " +
					"409 until the requester's identity is established. 404 without a data map. " + work,
				"security": bearer, "parameters": withRef,
				"responses": staffAnswers(obj{"202": requestDetail, "400": malformed, "404": notFound, "409": refused, "415": answer("Not application/json.", ref("Error"))}),
			},
		},
		"/api/v1/requests/{reference}/plan": obj{
			"post": obj{
				"operationId": "showPlan",
				"summary": "What answering an erasure, rectification, restriction or consent withdrawal would do in each system, and its digest; changes nothing. " +
					"503 names a system that cannot be read. 404 without a data map. " + work,
				"security": bearer, "parameters": withRef, "requestBody": jsonBody(ref("PlanRequest")),
				"responses": staffAnswers(obj{"200": answer("The plan.", ref("Plan")), "400": malformed, "404": notFound, "409": refused,
					"415": answer("Not application/json.", ref("Error")), "422": invalid, "503": answer("A system could not be read.", ref("Error"))}),
			},
		},
		"/api/v1/requests/{reference}/plan/approve": obj{
			"post": obj{
				"operationId": "approvePlan",
				"summary": "Approve the plan of that digest and run it, one step per system. A plan that changed since (409) is not approved: the answer " +
					"carries the plan as it now is. Refused for a closed request. " + work,
				"security": bearer, "parameters": withRef, "requestBody": jsonBody(ref("PlanRequest")),
				"responses": staffAnswers(obj{"202": requestDetail, "400": malformed, "404": notFound, "409": refused,
					"415": answer("Not application/json.", ref("Error")), "422": invalid, "503": answer("A system could not be read.", ref("Error"))}),
			},
		},
		"/api/v1/requests/{reference}/steps/{id}/retry": obj{
			"post": obj{
				"operationId": "retryStep", "summary": "Run a step that failed (or waits for an operator's system) again now. " + work,
				"security":   bearer,
				"parameters": []any{referenceParam(), obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "integer"}, "description": "The step's id (fulfilment.steps[].id)."}},
				"responses":  staffAnswers(obj{"202": requestDetail, "400": malformed, "404": notFound, "409": refused, "415": answer("Not application/json.", ref("Error"))}),
			},
		},
		"/api/v1/requests/{reference}/notes": obj{
			"post": obj{
				"operationId": "addNote", "summary": "Add an internal note (never shown to the requester). " + work,
				"security": bearer, "parameters": withRef, "requestBody": jsonBody(ref("NewNote")),
				"responses": staffAnswers(obj{"201": answer("Added.", ref("Note")), "400": malformed, "404": notFound,
					"415": answer("Not application/json.", ref("Error")), "422": invalid}),
			},
		},
	}
	return obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":   "rightsdesk API",
			"version": "1",
			"description": "The public intake of data-subject requests and the staff API. Staff calls take an API key " +
				"(Authorization: Bearer rdk_...) made by an admin; the key's role allows what that role allows in the staff workspace. " +
				"Times are RFC 3339 in the operator's time zone. Webhooks are described in docs/api.md.",
		},
		"servers":    []obj{{"url": s.cfg.BaseURL}},
		"paths":      paths,
		"components": obj{"schemas": schemas, "securitySchemes": obj{"apiKey": obj{"type": "http", "scheme": "bearer"}}},
	}
}

// apiOpenAPI serves the OpenAPI document.
func (s *Server) apiOpenAPI(c echo.Context) error {
	b, err := json.MarshalIndent(s.openAPIDocument(), "", "  ")
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}
