package raftfsm

import (
	"errors"
	"time"
)

// A key collected once (issue 12 item 6). An applicant's status token
// gives an X25519 key pair (api/keyseal.go); the registry keeps only the
// token's hash and the public key (Application.SealTo, sent in
// SubmitApplication body version 3). On approval the API seals the new
// key string to that public key and the review carries the sealed bytes
// (ReviewApplication body version 2), so neither the Raft log, nor a
// snapshot, nor the transparency log ever holds the key in plaintext.
// The applicant opens it with the token on the status page, and the
// API shows it only once CollectKey, which erases the sealed copy, has
// committed: a second collection is refused (ReasonKeyCollected).
//
// The state machine sees sealed bytes only: it checks their presence and
// bound, never their content (it has no token).

// TypeCollectKey is the collect-key command (registry).
const TypeCollectKey CommandType = 23

// MaxSealedKeyBytes bounds ReviewApplication.Sealed.
const MaxSealedKeyBytes = 1024

// The reasons of key collection.
const (
	ReasonKeyCollected = Reason("key-collected") // CollectKey of a key collected already
	ReasonNotSealed    = Reason("not-sealed")    // CollectKey of an application whose approval sealed no key (not approved, or made before sealing)
)

// CollectKey erases the sealed key of approved application ID: the
// applicant collected it at Time. It carries nothing secret (the API
// checked the status token before proposing it).
type CollectKey struct {
	ID   string
	Time time.Time
}

func (*CollectKey) Type() CommandType { return TypeCollectKey }

// SubmitApplication body version 3 and ReviewApplication body version 2
// (registry_codec.go):
//
//	SubmitApplication v3: the version 1 body, then uint32 max open (0: no
//	                      cap), then the seal public key (32 bytes, not
//	                      all zero)
//	ReviewApplication v2: the version 1 body, which has a key, then the
//	                      sealed key (byte string, 1 to MaxSealedKeyBytes)
//	CollectKey (v1):      id, time
const (
	submitApplicationVersion3 = 3
	reviewApplicationVersion2 = 2
)

// sealApply applies CollectKey and checks the sealed parts of a review
// before applyRegistry records it; ok false when c is neither.
func (w *work) sealApply(c Command) (ops []func(kvTx) error, ok bool, err error) {
	st := w.registry().st
	switch c := c.(type) {
	case *CollectKey:
		a, found := st.apps.Get(c.ID)
		if !found {
			return nil, true, reject(ReasonUnknownApplication, "no application %q", c.ID)
		}
		if !a.Collected.IsZero() {
			return nil, true, reject(ReasonKeyCollected, "the key of application %s was collected at %s", a.ID, a.Collected.UTC().Format(time.RFC3339))
		}
		if a.Status != StatusApproved || len(a.SealedKey) == 0 {
			return nil, true, reject(ReasonNotSealed, "application %s (%s) has no sealed key to collect", a.ID, a.Status)
		}
		a = a.clone()
		a.SealedKey, a.Collected = nil, c.Time
		st.setApp(a)
		return []func(kvTx) error{func(tx kvTx) error { return putApplicationTx(tx, a) }}, true, nil
	case *ReviewApplication:
		if len(c.Sealed) == 0 {
			return nil, false, nil
		}
		a, found := st.apps.Get(c.ID)
		switch {
		case c.Decision != DecisionApprove || c.Key == nil:
			return nil, true, reject(ReasonMalformed, "a sealed key in a %q review of %s", c.Decision, c.ID)
		case len(c.Sealed) > MaxSealedKeyBytes:
			return nil, true, reject(ReasonMalformed, "sealed key of %d bytes, the limit %d", len(c.Sealed), MaxSealedKeyBytes)
		case found && a.SealTo == [32]byte{}:
			return nil, true, reject(ReasonMalformed, "application %s has no seal key to seal to", c.ID)
		}
	}
	return nil, false, nil
}

func (e *encoder) sealFields(a Application) {
	e.hash(a.SealTo)
	e.bytes(a.SealedKey)
	e.time(a.Collected)
}

func (d *decoder) sealFields(a *Application) {
	a.SealTo = d.hash()
	if b := d.bytes(); len(b) > 0 {
		a.SealedKey = b
	}
	a.Collected = d.time()
	if d.Err == nil && a.SealTo == [32]byte{} {
		d.Err = errors.New("sealed-key fields without a seal key")
	}
}

// sealed reports whether a carries what only the version 2 store value
// and snapshot format 5 hold.
func (a Application) sealed() bool { return a.SealTo != [32]byte{} }
