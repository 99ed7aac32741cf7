package ops

// publish_followup.go: a publish whose outcome is unknown is followed up
// (issue 17 item 8). A group can answer a write with no_quorum (its
// leader could not reach a majority within apply_timeout, or lost
// leadership while committing), or not answer at all, while the change
// is in the log of a member that may yet commit it: the owner could not
// tell, and a second publish could be refused as stale once the first
// committed after all. publish then reads the group's copy from its
// members until it holds the change (committed: done) or followUpWait
// has passed (still unknown: the error says what the group holds).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/zone"
)

// followUpWait bounds the follow-up of an unknown outcome: an election
// and a resend take well under it.
const followUpWait = 10 * time.Second

// followUpPoll is the pause between two reads of the group's copy.
const followUpPoll = 200 * time.Millisecond

// outcomeUnknown reports whether err, the failure of a write, leaves it
// open whether the group committed it: no quorum, no leader or no
// member reached (after sends that may have reached one), or a timeout.
// A rejection or a bad request is an answer.
func outcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	if ae, ok := errors.AsType[*admin.APIError](err); ok {
		switch ae.Code {
		case admin.CodeNoQuorum, admin.CodeNoLeader, admin.CodeNotLeader, admin.CodeUnavailable, admin.CodeInternal:
			return true
		}
		return false
	}
	return errors.Is(err, admin.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// followUp reads the group's copy of the plan's zone from server and the
// other members until one holds the plan's new head (true) or wait has
// passed (false, with what the group was last seen to hold, "" when no
// member answered). It runs for wait whether or not parent (the write's
// context, maybe over already) has ended.
func followUp(parent context.Context, c *admin.Client, server string, p *publishPlan, k *zone.Key, progress io.Writer, wait time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), wait)
	defer cancel()
	want := p.New.Head
	seen := ""
	fmt.Fprintf(progress, "the outcome of publishing %s serial %d is unknown; reading the group's copy to find out (up to %v)\n", p.Origin, want.Serial, wait)
	for {
		for _, s := range groupServers(ctx, c, server) {
			z, err := fetchZone(ctx, c, s, p.Origin, k)
			switch {
			case err != nil:
				continue
			case z == nil:
				seen = fmt.Sprintf("%s holds no zone %s", s, p.Origin)
			case z.Head.Serial == want.Serial && z.Head.Root == want.Root:
				fmt.Fprintf(progress, "%s holds %s serial %d: the change committed\n", s, p.Origin, want.Serial)
				return true, ""
			default:
				seen = fmt.Sprintf("%s holds %s at serial %d", s, p.Origin, z.Head.Serial)
			}
		}
		if !sleepCtx(ctx, followUpPoll) {
			return false, seen
		}
	}
}

// submitFollowedUp is submitPublish followed up when its outcome is
// unknown: the change committed after all is a success (reported as a
// repeat, the index unknown); otherwise the error says what the group
// holds and what to do.
func submitFollowedUp(ctx context.Context, c *admin.Client, server string, p *publishPlan, k *zone.Key, progress io.Writer) (*admin.ChangeResult, error) {
	res, err := submitPublish(ctx, c, server, p)
	if err == nil || !outcomeUnknown(err) || p.Staged != nil {
		return res, err
	}
	ok, seen := followUp(ctx, c, server, p, k, progress, followUpWait)
	if ok {
		return &admin.ChangeResult{Serial: p.New.Serial(), Repeat: true}, nil
	}
	if seen == "" {
		seen = "no member answered"
	}
	hint := "the change may still commit if a member holds it in its log; run publish again: it reads the group's copy and sends only what is missing"
	if he, ok := errors.AsType[*hintError](err); ok {
		hint = he.hint + "\n  " + hint // what the first error said too
	}
	return nil, withHint(fmt.Errorf("%w; followed up for %v: not committed so far (%s)", err, followUpWait, seen), "%s", hint)
}
