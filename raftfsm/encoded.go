package raftfsm

// Encoded is a command together with the bytes it was decoded from. The
// write path decodes a command once where it enters a node (the admin
// endpoint, the REST API, DDNRS-RPC) and passes it on typed; the same
// bytes are proposed to Raft or forwarded, so what the owner signed and
// sent is what the log holds.
type Encoded struct {
	Cmd Command
	// Bytes is the command as EncodeCommand wrote it.
	Bytes []byte
}

// Decode decodes b once for the write path. A command this build cannot
// decode is a *RejectedError with ReasonMalformed: it must never enter
// the log, where it would halt every replica's state machine.
func Decode(b []byte) (Encoded, error) {
	c, err := DecodeCommand(b)
	if err != nil {
		return Encoded{}, &RejectedError{Reason: ReasonMalformed, Err: err}
	}
	return Encoded{Cmd: c, Bytes: b}, nil
}

// Encode encodes c for the write path.
func Encode(c Command) (Encoded, error) {
	b, err := EncodeCommand(c)
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{Cmd: c, Bytes: b}, nil
}

// Zone is the zone a zone command is about ("" for other commands).
func (e Encoded) Zone() string {
	switch c := e.Cmd.(type) {
	case *CreateZone:
		return c.Change.Zone
	case *PublishChange:
		return c.Change.Zone
	case *RotateKey:
		return c.Change.Zone
	case *DeleteZone:
		return c.Zone
	case *Suspend:
		return c.Zone
	case *Unsuspend:
		return c.Zone
	case *StageBegin:
		return c.Zone
	case *StageChunk:
		return c.Zone
	case *StageCommit:
		return c.Zone
	case *DropZone:
		return c.Zone
	case *RecordRollback:
		return c.Zone
	}
	return ""
}
