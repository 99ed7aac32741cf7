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
// went away, a commit whose outcome is unknown. It then asks the group
// again (StageBegin answers how many chunks it holds) and goes on from
// there; the upload is never started over unless the group lost it.
type uploader struct {
	c       *admin.Client
	servers []string  // admin addresses to try, the first one first
	out     io.Writer // progress lines; nil for none
	origin  string
	// tries bounds how many interruptions in a row, with no chunk
	// committed in between, an upload survives.
	tries int
	// pause is the wait before resuming.
	pause time.Duration
}

// upload sends cmds (StageBegin, chunks, StageCommit) and returns the
// commit's result.
func (u *uploader) upload(ctx context.Context, cmds [][]byte) (*admin.ChangeResult, error) {
	if len(cmds) < 3 {
		return nil, fmt.Errorf("a staged upload of %d commands", len(cmds))
	}
	begin, chunks, commit := cmds[0], cmds[1:len(cmds)-1], cmds[len(cmds)-1]
	tries := max(u.tries, 1)
	var last error
	start := time.Now()
	resumes := 0
	for try := 0; try < tries; try++ {
		if resumes > 0 {
			u.printf("upload of %s interrupted (%v); resuming\n", u.origin, last)
			select {
			case <-ctx.Done():
				return nil, errors.Join(ctx.Err(), last)
			case <-time.After(u.pause):
			}
		}
		server, err := u.pick(ctx)
		if err != nil {
			last = err
			continue
		}
		res, err := u.c.SubmitChange(ctx, server, u.origin, begin)
		if err != nil {
			if last = err; !resumable(err) {
				return nil, err
			}
			continue
		}
		next := int(res.Staged)
		if resumes == 0 || next > 0 {
			u.printf("upload of %s: %d chunks, the group holds %d\n", u.origin, len(chunks), next)
		}
		resumes++
		failed := false
		for i := next; i < len(chunks); i++ {
			res, err := u.c.SubmitChange(ctx, server, u.origin, chunks[i])
			if err != nil {
				if last = err; !resumable(err) {
					return nil, err
				}
				failed = true
				break
			}
			if res.Repeat && int(res.Staged) > i+1 {
				i = int(res.Staged) - 1 // the group holds more than we thought
			}
			try = 0 // progress: count interruptions afresh
			if n := i + 1; n == len(chunks) || n%max(len(chunks)/10, 1) == 0 {
				u.printf("  %s: %d/%d chunks committed (%v)\n", u.origin, n, len(chunks), time.Since(start).Round(time.Millisecond))
			}
		}
		if failed {
			continue
		}
		res, err = u.c.SubmitChange(ctx, server, u.origin, commit)
		if err != nil {
			if last = err; !resumable(err) {
				return nil, err
			}
			continue
		}
		return res, nil
	}
	return nil, fmt.Errorf("upload of %s: gave up after %d interruptions in a row without progress: %w", u.origin, tries, last)
}

// pick returns the admin address of the group's leader, as the first
// server that answers knows it.
func (u *uploader) pick(ctx context.Context) (string, error) {
	var errs []error
	for _, s := range u.servers {
		if _, err := u.c.Status(ctx, s); err != nil {
			errs = append(errs, err)
			continue
		}
		return leaderAdmin(ctx, u.c, s), nil
	}
	return "", fmt.Errorf("no member answers: %w", errors.Join(errs...))
}

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
