package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// uploader sends a staged upload (raftfsm.StagedCommands) to a group and
// resumes it after an interruption: a leader that failed, a member that
// went away, a commit whose outcome is unknown, a request that timed out.
// It then asks the group again (StageBegin answers how many chunks it
// holds) and goes on from there; the upload is never started over unless
// the group lost it.
type uploader struct {
	to     uploadRoute
	out    io.Writer // progress lines; nil for none
	origin string
	// tries bounds how many interruptions in a row, with no chunk
	// committed in between, an upload survives. A chunk counts as
	// committed when its send succeeded or when the group, asked again,
	// holds more chunks than before (a send whose outcome was unknown
	// had committed after all).
	tries int
	// pause is the wait before resuming.
	pause time.Duration
}

// uploadRoute is how an uploader reaches the group: the admin endpoint
// (adminRoute) or the REST API (restRoute, publish_api.go).
type uploadRoute interface {
	// start finds where to send the next round (the leader).
	start(ctx context.Context) error
	// send sends one command and returns the group's answer.
	send(ctx context.Context, cmd []byte) (uploadStep, error)
	// resumable reports whether the upload may go on after err.
	resumable(err error) bool
}

// uploadStep is the group's answer to one command of a staged upload.
type uploadStep struct {
	Serial uint32
	Index  uint64
	Staged uint32 // chunks the group holds
	Known  bool   // Staged is known; else resume from the first chunk
	Repeat bool
	group  string // the group the REST API sent it to ("" through the admin endpoint)
}

// upload sends cmds (StageBegin, chunks, StageCommit) and returns the
// commit's answer.
func (u *uploader) upload(ctx context.Context, cmds [][]byte) (uploadStep, error) {
	if len(cmds) < 3 {
		return uploadStep{}, fmt.Errorf("a staged upload of %d commands", len(cmds))
	}
	begin, chunks, commit := cmds[0], cmds[1:len(cmds)-1], cmds[len(cmds)-1]
	tries := max(u.tries, 1)
	var last error
	start := time.Now()
	resumes := 0
	held := 0 // the most chunks the group is known to hold
	for try := 0; try < tries; try++ {
		if resumes > 0 || last != nil {
			u.printf("upload of %s interrupted (%v); resuming\n", u.origin, last)
			select {
			case <-ctx.Done():
				return uploadStep{}, errors.Join(ctx.Err(), last)
			case <-time.After(u.pause):
			}
		}
		if err := u.to.start(ctx); err != nil {
			last = err
			continue
		}
		res, err := u.to.send(ctx, begin)
		if err != nil {
			if last = err; !u.to.resumable(err) {
				return uploadStep{}, err
			}
			continue
		}
		next := 0
		if res.Known {
			next = min(int(res.Staged), len(chunks))
		}
		if next > held {
			// The interrupted round committed chunks after all (a
			// leader lost while committing each: seen at load 47 with
			// seven members): progress, count interruptions afresh.
			held, try = next, 0
		}
		if resumes == 0 || next > 0 {
			u.printf("upload of %s: %d chunks, the group holds %d\n", u.origin, len(chunks), next)
		}
		resumes++
		failed := false
		for i := next; i < len(chunks); i++ {
			res, err := u.to.send(ctx, chunks[i])
			if err != nil {
				if last = err; !u.to.resumable(err) {
					return uploadStep{}, err
				}
				failed = true
				break
			}
			if res.Known && res.Repeat && int(res.Staged) > i+1 {
				i = min(int(res.Staged), len(chunks)) - 1 // the group holds more than we thought
			}
			try = 0 // progress: count interruptions afresh
			held = max(held, i+1)
			if n := i + 1; n == len(chunks) || n%max(len(chunks)/10, 1) == 0 {
				u.printf("  %s: %d/%d chunks committed (%v)\n", u.origin, n, len(chunks), time.Since(start).Round(time.Millisecond))
			}
		}
		if failed {
			continue
		}
		res, err = u.to.send(ctx, commit)
		if err != nil {
			if last = err; !u.to.resumable(err) {
				return uploadStep{}, err
			}
			continue
		}
		return res, nil
	}
	return uploadStep{}, fmt.Errorf("upload of %s: gave up after %d interruptions in a row without progress: %w", u.origin, tries, last)
}

// adminRoute sends an upload through the admin endpoint, to the leader
// as the first of servers that answers knows it.
type adminRoute struct {
	c       *admin.Client
	servers []string // admin addresses to try, the first one first
	origin  string
	server  string // this round's
}

func (a *adminRoute) start(ctx context.Context) error {
	var errs []error
	for _, s := range a.servers {
		if _, err := a.c.Status(ctx, s); err != nil {
			errs = append(errs, err)
			continue
		}
		a.server = leaderAdmin(ctx, a.c, s)
		return nil
	}
	return fmt.Errorf("no member answers: %w", errors.Join(errs...))
}

func (a *adminRoute) send(ctx context.Context, cmd []byte) (uploadStep, error) {
	res, err := a.c.SubmitChange(ctx, a.server, a.origin, cmd)
	if err != nil {
		return uploadStep{}, err
	}
	return uploadStep{Serial: res.Serial, Index: res.Index, Staged: res.Staged, Known: true, Repeat: res.Repeat}, nil
}

func (a *adminRoute) resumable(err error) bool { return resumable(err) }

func (u *uploader) printf(format string, args ...any) {
	if u.out != nil {
		fmt.Fprintf(u.out, format, args...)
	}
}

// resumable reports whether an upload interrupted by err can go on:
// the outcome of a command is unknown, no leader was reachable, the
// member asked went away, or the group lost the open upload or expects
// another chunk (a new StageBegin tells where it stands).
func resumable(err error) bool {
	var ae *admin.APIError
	if !errors.As(err, &ae) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch ae.Code {
	case admin.CodeNoQuorum, admin.CodeNoLeader, admin.CodeNotLeader, admin.CodeUnavailable:
		return true
	case admin.CodeRejected:
		return ae.Reason == string(raftfsm.ReasonNoStaging) || ae.Reason == string(raftfsm.ReasonChunkOrder)
	}
	return false
}

// groupServers returns server followed by the admin addresses of the
// group's other members, as server knows them.
func groupServers(ctx context.Context, c *admin.Client, server string) []string {
	out := []string{server}
	ms, err := c.Members(ctx, server)
	if err != nil {
		return out
	}
	for _, m := range ms {
		if m.Admin != "" && m.Admin != server {
			out = append(out, m.Admin)
		}
	}
	return out
}
