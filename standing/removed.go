package standing

// removed.go: a member removed from its group (`ddnrs ops group remove`)
// learns it (issue 17 item 6). Raft never tells it: the leader stops
// replicating to a member as soon as it appends the configuration entry
// that removes it, so the removed member keeps its last configuration,
// with itself in it, and its frozen copy of the zones. It learns it two
// ways, both ending in Check, which asks the group's leader (never
// trusting who prompted it):
//
//   - the leader that committed the removal tells it at once, over its
//     admin endpoint (POST /v1/group/removed, admin.Server), and waits
//     for its answer, so `ops group remove` returns once the removed
//     member has stopped answering as a member;
//   - a member that has heard from no leader for RemovedCheck asks the
//     members of its last configuration who leads, and asks that leader
//     for its configuration (a partition: nobody answers, nothing
//     changes; the member keeps serving its copy, as any member cut off
//     from its leader does).
//
// Once removed it asks again every RemovedCheck, so a member added back
// under the same ID serves again.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// watchRemoval checks whether the member was removed once it has heard
// from no leader for RemovedCheck, then every RemovedCheck while that
// lasts, and every RemovedCheck while removed; until ctx ends.
func (s *Standing) watchRemoval(ctx context.Context) {
	every := s.o.RemovedCheck
	tick := time.NewTicker(max(every/4, 50*time.Millisecond))
	defer tick.Stop()
	var leaderless, asked time.Time // since when no leader; last Check
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		id, _ := s.o.Group.Leader()
		if id != "" && s.Removed() == nil {
			leaderless = time.Time{}
			continue
		}
		if leaderless.IsZero() {
			leaderless = now
		}
		if now.Sub(leaderless) < every || now.Sub(asked) < every {
			continue
		}
		asked = now
		if _, err := s.Check(ctx); err != nil {
			s.o.Log.Debug("asked whether this member was removed: no answer", "err", err)
		}
	}
}

// Check asks the group's leader whether its configuration holds this
// member and records the answer: removed true when the leader's
// configuration does not list it. It finds the leader through the
// members of this member's last configuration (their admin endpoints),
// and believes only a member whose own status says it leads. When no
// leader can be asked it returns ErrNoLeaderFound (wrapped) and changes
// nothing. Checks do not overlap; any goroutine may call it.
func (s *Standing) Check(ctx context.Context) (removed bool, err error) {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	leader, addr, err := s.findLeader(ctx)
	if err != nil {
		return s.Removed() != nil, err
	}
	if leader == s.o.Self {
		s.set(false, leader)
		return false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.AskTimeout)
	defer cancel()
	rows, err := s.o.Client.MembersForwarded(cctx, addr)
	if err != nil {
		return s.Removed() != nil, fmt.Errorf("%w: leader %s's configuration: %w", ErrNoLeaderFound, leader, err)
	}
	in := false
	for _, r := range rows {
		in = in || r.ID == s.o.Self
	}
	s.set(!in, leader)
	return !in, nil
}

// findLeader returns the ID and admin address of a member that says it
// leads: this member, the leader it knows, or one the members of its
// last configuration name.
func (s *Standing) findLeader(ctx context.Context) (id, addr string, err error) {
	if st := s.o.Group.Stats(); st.State == "Leader" {
		return s.o.Self, "", nil
	}
	members, err := s.o.Group.Members(ctx)
	if err != nil {
		return "", "", fmt.Errorf("%w: this member's configuration: %w", ErrNoLeaderFound, err)
	}
	var ids []string
	if l, _ := s.o.Group.Leader(); l != "" && l != s.o.Self {
		ids = append(ids, l)
	}
	for _, m := range members {
		if m.ID != s.o.Self {
			ids = append(ids, m.ID)
		}
	}
	var errs []error
	seen := make(map[string]bool)
	for _, m := range ids {
		if seen[m] {
			continue
		}
		seen[m] = true
		a, ok := s.o.Admin(m)
		if !ok || a == "" {
			continue
		}
		st, err := s.status(ctx, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			continue
		}
		if st.State == "Leader" {
			return st.ID, a, nil
		}
		if st.LeaderID == "" || st.LeaderID == s.o.Self || seen[st.LeaderID] {
			continue
		}
		// Ask the leader it names (which may be a member this member's
		// configuration never had) next.
		seen[st.LeaderID] = true
		la, ok := s.o.Admin(st.LeaderID)
		if !ok || la == "" {
			continue
		}
		if lst, err := s.status(ctx, la); err == nil && lst.State == "Leader" {
			return lst.ID, la, nil
		}
	}
	if len(errs) == 0 {
		return "", "", fmt.Errorf("%w: no other member with a known admin address", ErrNoLeaderFound)
	}
	return "", "", fmt.Errorf("%w: %w", ErrNoLeaderFound, errors.Join(errs...))
}

func (s *Standing) status(ctx context.Context, addr string) (*statusView, error) {
	cctx, cancel := context.WithTimeout(ctx, s.o.AskTimeout)
	defer cancel()
	st, err := s.o.Client.Status(cctx, addr)
	if err != nil {
		return nil, err
	}
	return &statusView{ID: st.ID, State: st.State, LeaderID: st.LeaderID}, nil
}

// statusView is the part of a member's admin status Check reads.
type statusView struct{ ID, State, LeaderID string }

// set records the member's standing and, when it changed, logs why and
// calls OnRemoved first: Removed and Ready report the new standing only
// once OnRemoved has acted on it, so whoever sees ErrRemoved finds the
// zones already withdrawn. Only Check calls it (under checkMu).
func (s *Standing) set(removed bool, leader string) {
	s.mu.Lock()
	was := s.removed != nil
	s.mu.Unlock()
	if was != removed {
		if removed {
			s.o.Log.Warn("removed from the group: no longer answering for the group's zones as a member (asked of its members over the overlay and verified, as on any node, or REFUSED)", "leader", leader, "id", s.o.Self)
		} else {
			s.o.Log.Warn("in the group's configuration again: answering for the group's zones as a member", "leader", leader, "id", s.o.Self)
		}
		if s.o.OnRemoved != nil {
			s.o.OnRemoved(removed)
		}
	}
	s.mu.Lock()
	if removed {
		s.removed = fmt.Errorf("%w: the configuration of its leader %s no longer lists %s", ErrRemoved, leader, s.o.Self)
	} else {
		s.removed = nil
	}
	s.mu.Unlock()
}
