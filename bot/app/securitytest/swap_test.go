package securitytest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/swap"
)

// TestSwapMatrix: /oncall swap and its Accept, Decline, Cancel, Undo,
// Confirm undo and Keep buttons. Only people of the pool swap; only the
// invitee answers; only the requester cancels; only the two parties undo;
// only admins arrange a swap between two others.
func TestSwapMatrix(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	h := e.h
	slash := func(user, line string) func(*testing.T) { return e.slash(user, chEngineering, line) }

	// Asking. Nobody outside the configuration, nobody outside the pool,
	// and no pool member arranging a swap for others.
	for _, c := range []struct {
		name, actor, line string
		want              []string
	}{
		{"outsider asks", outsider, "/oncall swap <@U0ENGA>", []string{"Only people of the on-call configuration can swap shifts."}},
		{"outsider arranges", outsider, "/oncall swap <@U0ENGA> <@U0ENGB>", []string{"Only people of the on-call configuration can swap shifts."}},
		{"outsider undoes", outsider, "/oncall swap undo", []string{"You have no accepted swap that can still be undone"}},
		{"admin outside the pool asks for themselves", lead, "/oncall swap <@U0ENGA>", []string{"You are not in the on-call pool"}},
		{"pool member arranges", engB, "/oncall swap <@U0ENGA> <@U0ENGC>", []string{"Only admins can arrange a swap between two people.", "Usage"}},
		{"pool member names an outsider", engB, "/oncall swap <@U0OUTSIDER>", []string{"<@U0OUTSIDER> is not in the on-call configuration.", "Usage"}},
		{"pool member names an admin outside the pool", engB, "/oncall swap <@U0LEAD>", []string{"is not in the on-call pool, so they have no primary shifts to swap"}},
		{"pool member names themselves", engB, "/oncall swap <@U0ENGB>", []string{"You can't swap with yourself"}},
		{"admin arranges with an outsider", lead, "/oncall swap <@U0ENGA> <@U0OUTSIDER>", []string{"<@U0OUTSIDER> is not in the on-call configuration."}},
	} {
		t.Run(c.name, func(t *testing.T) { e.refused(t, c.actor, slash(c.actor, c.line), c.want...) })
	}
	require.Zero(t, query[int](t, e, `SELECT count(*) FROM swaps`))

	// A pool member asks another (B's shift 1 for A's shift 3).
	e.allowed(t, engB, "swap.request", slash(engB, "/oncall swap <@U0ENGA>"))
	asked := h.WaitEphemeral(t, engB, "Swap request #1 sent to Engineer A")
	invite := h.WaitIn(t, engA, "asks to swap primary on-call shifts with you (request #1)")
	require.Equal(t, "pending", query[string](t, e, `SELECT status FROM swaps WHERE id = 1`))

	// Answering: only the invitee. Cancelling: only the requester.
	for _, actor := range []string{engB, engC, lead, cto, outsider} {
		t.Run("accept by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.click(actor, invite, swap.ActionAccept), "Swap request #1 is for Engineer A, not you; nothing changed.")
		})
		t.Run("decline by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.click(actor, invite, swap.ActionDecline), "Swap request #1 is for Engineer A, not you; nothing changed.")
		})
	}
	for _, actor := range []string{engA, engC, lead, outsider} {
		t.Run("cancel by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.forgeClick(actor, asked, swap.ActionCancel), "Only Engineer B, who asked, can cancel swap request #1; nothing changed.")
		})
	}
	require.Equal(t, "pending", query[string](t, e, `SELECT status FROM swaps WHERE id = 1`))
	require.Equal(t, []string{"U0ENGB swap.request"}, auditActions(t, e, "swap:1"))

	// The invitee accepts: the overrides are stored.
	e.allowed(t, engA, "swap.accepted", e.click(engA, invite, swap.ActionAccept))
	require.Equal(t, "accepted", query[string](t, e, `SELECT status FROM swaps WHERE id = 1`))
	require.Positive(t, query[int](t, e, `SELECT count(*) FROM overrides WHERE ref = 'swap:1' AND deleted_at IS NULL`))
	agreedB := h.WaitIn(t, engB, "Swap #1 is agreed")

	// Undoing: only the two parties, the other one confirming.
	for _, actor := range []string{engC, lead, outsider} {
		t.Run("undo button by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.click(actor, agreedB, swap.ActionUndo), "Swap #1 is between Engineer B and Engineer A; only they can undo it. Nothing changed.")
		})
		t.Run("undo command by "+actor, func(t *testing.T) {
			e.refused(t, actor, slash(actor, "/oncall swap undo 1"), "only they can undo it. Nothing changed.")
		})
	}
	e.allowed(t, engB, "swap.undo_request", e.click(engB, agreedB, swap.ActionUndo))
	undoDM := h.WaitIn(t, engA, "wants to undo swap #1")
	for _, c := range []struct {
		actor, action string
		want          string
	}{
		{engB, swap.ActionUndoConfirm, "You asked to undo swap #1; Engineer A has to confirm."},
		{engB, swap.ActionUndoKeep, "There is no undo request of swap #1 for you to answer; nothing changed."},
		{engC, swap.ActionUndoConfirm, "only they can undo it"},
		{lead, swap.ActionUndoConfirm, "only they can undo it"},
		{lead, swap.ActionUndoKeep, "only they can undo it"},
		{outsider, swap.ActionUndoConfirm, "only they can undo it"},
		{outsider, swap.ActionUndoKeep, "only they can undo it"},
	} {
		t.Run(c.action+" by "+c.actor, func(t *testing.T) {
			e.refused(t, c.actor, e.click(c.actor, undoDM, c.action), c.want)
		})
	}
	require.Equal(t, "accepted", query[string](t, e, `SELECT status FROM swaps WHERE id = 1`))
	e.allowed(t, engA, "swap.undone", e.click(engA, undoDM, swap.ActionUndoConfirm))
	require.Equal(t, "undone", query[string](t, e, `SELECT status FROM swaps WHERE id = 1`))
	require.Zero(t, query[int](t, e, `SELECT count(*) FROM overrides WHERE ref = 'swap:1' AND deleted_at IS NULL`))

	// An admin arranges a swap between two others; both must answer, the
	// admin cannot answer for them.
	e.allowed(t, lead, "swap.request", slash(lead, "/oncall swap <@U0ENGA> <@U0ENGC>"))
	inviteC := h.WaitIn(t, engC, "proposes that", "(request #2)")
	for _, actor := range []string{lead, engB, outsider} {
		t.Run("arranged accept by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.click(actor, inviteC, swap.ActionAccept), "Swap request #2 is for Engineer A and Engineer C, not you; nothing changed.")
		})
	}
	e.allowed(t, engC, "swap.decline", e.click(engC, inviteC, swap.ActionDecline))
	require.Equal(t, "declined", query[string](t, e, `SELECT status FROM swaps WHERE id = 2`))
	require.Equal(t, []string{"U0LEAD swap.request", "U0ENGC swap.decline"}, auditActions(t, e, "swap:2"))
}
