// Package request is rightsdesk's domain: every rule about a request a
// person makes over their personal data, in one place, with no HTTP and no
// SQL.
//
// What a request is: its types, locales and relationships (types.go), the
// Request itself (request.go), its states and the one table of who may move
// it where (status.go), its reference (reference.go) and the secret links
// that reach it (token.go, links.go).
//
// What a person sends: the submission and its validation, field limits
// included (submission.go), files and the kinds accepted (files.go), the
// limits on what they can make the portal store and send (limits.go).
//
// The services, each a small struct over the interfaces it needs:
//   - Intake files a new request (intake.go);
//   - Confirmer confirms the address (confirm.go);
//   - Requester carries out what a person does from their status page
//     (requester.go);
//   - Expirer closes what was never confirmed (expiry.go);
//   - Desk carries out what staff do (desk.go), answers previewed before
//     they are sent (answers.go), refusal grounds (grounds.go), notes
//     (notes.go) and identity checks (identity.go), always as a StaffActor
//     (actor.go).
//
// A service decides; the store applies its decision, a Change (change.go),
// in one transaction with the change's event and emails (email.go).
package request
