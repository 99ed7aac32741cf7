package raftfsm

import "io"

// VerifySnapshot reads a snapshot as WriteSnapshot writes it and returns
// ErrBadSnapshot (wrapped) unless Restore would accept it; the state is
// not touched. Group.Restore calls it before handing a snapshot to Raft,
// which panics when the FSM refuses a restore it already stored.
func (f *FSM) VerifySnapshot(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, err = readSnapshot(data)
	return err
}
