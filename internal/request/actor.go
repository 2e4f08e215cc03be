package request

import (
	"errors"
	"maps"
)

// StaffActor is who carries out a desk action: a member of staff, or an
// API key of the operator's own system (which acts under the staff rules
// of its role). Every desk method takes one, and the change it makes names
// it; nothing outside the desk rewrites who acted.
//
// (Actor, the lifecycle's word for a side - requester, staff, system - is
// the other half: a StaffActor always acts as ActorStaff.)
type StaffActor struct {
	StaffID  int64
	APIKeyID int64
}

// ByStaff is a member of staff acting.
func ByStaff(id int64) StaffActor { return StaffActor{StaffID: id} }

// ByAPIKey is an API key acting.
func ByAPIKey(id int64) StaffActor { return StaffActor{APIKeyID: id} }

// errNoActor is a desk action called without exactly one actor: a
// programming error, refused before anything is looked at.
var errNoActor = errors.New("a desk action needs a member of staff or an API key, exactly one")

func (a StaffActor) check() error {
	if (a.StaffID > 0) == (a.APIKeyID > 0) || a.StaffID < 0 || a.APIKeyID < 0 {
		return errNoActor
	}
	return nil
}

// stamp makes ch name a: the actor is staff, with the member's id; an API
// key has no staff id, and its event's data holds api_key_id instead, so
// every reader of the log keeps working and the key is found. Messages
// staff write and an identity check carry the same name.
func (a StaffActor) stamp(ch Change) Change {
	ch.Actor, ch.ActorID = ActorStaff, a.StaffID
	if a.APIKeyID != 0 {
		data := maps.Clone(ch.Data)
		if data == nil {
			data = map[string]any{}
		}
		data["api_key_id"] = a.APIKeyID
		ch.Data = data
	}
	if len(ch.Messages) > 0 {
		msgs := make([]NewMessage, len(ch.Messages))
		for i, m := range ch.Messages {
			if m.Author == ActorStaff {
				m.StaffID = a.StaffID
			}
			msgs[i] = m
		}
		ch.Messages = msgs
	}
	if ch.Identity != nil {
		id := *ch.Identity
		id.StaffID, id.APIKeyID = a.StaffID, a.APIKeyID
		ch.Identity = &id
	}
	return ch
}
