package events

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/tenants/ledger"
	"jifen/tenants/members"
	"jifen/tenants/rules"
)

// refund reverses what a paid order earned, in proportion to the refunded
// amount, and gives back the points the member paid with. Partial refunds
// round down; the refund that completes the order's amount takes exactly
// what is left, so all of an order's refunds together reverse exactly what
// it earned, never more. The rules are not evaluated: a refund's effect is
// fixed by the order it reverses.
func (s *Service) refund(ctx context.Context, m members.Member, p parsed, now time.Time) (Result, error) {
	st := store{s.DB}
	if _, err := s.lockMembers(ctx, m.ID); err != nil {
		return Result{}, err
	}
	o, err := st.findOrder(ctx, p.orderID)
	if err != nil {
		return Result{}, err
	}
	if o == nil {
		return Result{}, (&platform.Error{Code: platform.ENotFound,
			Message: "No order_paid event was processed for this order_id; a refund needs the paid order first."}).
			WithDetails(map[string]any{"order_id": p.orderID})
	}
	if o.MemberID != m.ID {
		return Result{}, platform.FieldErrors{"attributes.order_id": "belongs to another member"}.Err()
	}
	if prev, err := st.findRefund(ctx, p.orderID, p.refundID); err != nil {
		return Result{}, err
	} else if prev != nil {
		d := map[string]any{"order_id": p.orderID, "event_id": prev.EventID}
		msg := "This refund of the order was already processed; send a new refund_id for another partial refund."
		if p.refundID != "" {
			d["refund_id"] = p.refundID
			msg = "A refund with this refund_id was already processed for the order."
		}
		return Result{}, (&platform.Error{Code: platform.EConflict, Message: msg}).WithDetails(d)
	}
	remaining := o.AmountCents - o.RefundedAmountCents
	if remaining <= 0 {
		done := o.AmountCents > 0
		if !done {
			if done, err = st.orderHasRefunds(ctx, o.OrderID); err != nil {
				return Result{}, err
			}
		}
		if done {
			return Result{}, (&platform.Error{Code: platform.EConflict, Message: "The order was already refunded in full."}).
				WithDetails(map[string]any{"order_id": p.orderID})
		}
	}
	amount := remaining
	if p.hasAmount {
		if p.amountCents > remaining {
			return Result{}, platform.FieldErrors{"attributes.amount_cents": fmt.Sprintf(
				"is more than is left to refund of this order (%d of %d cents)", remaining, o.AmountCents)}.Err()
		}
		amount = p.amountCents
	}
	if p.hasUsed && o.PointsUsed != nil && *o.PointsUsed != p.pointsUsed {
		return Result{}, platform.FieldErrors{"attributes.points_used": fmt.Sprintf(
			"does not match the order's points_used (%d)", *o.PointsUsed)}.Err()
	}
	if p.hasUsed && o.PointsUsed == nil {
		o.PointsUsed = &p.pointsUsed
	}
	var used int64
	if o.PointsUsed != nil {
		used = *o.PointsUsed
	}
	full := o.RefundedAmountCents+amount == o.AmountCents
	share := func(total, done int64) int64 {
		left := total - done
		if full {
			return left
		}
		return min(left, mulDiv(total, amount, o.AmountCents))
	}
	d := &RefundDetails{
		OrderID: p.orderID, RefundID: p.refundID, AmountCents: amount, OrderAmountCents: o.AmountCents, Full: full,
		PointsReversed: share(o.Points, o.RefundedPoints),
		GrowthReversed: share(o.Growth, o.RefundedGrowth),
		PointsReturned: share(used, o.ReturnedPointsUsed),
	}

	res := Result{EventID: ids.NewAt(now), MemberID: m.ID, Type: TypeOrderRefunded,
		Awards: []rules.Award{}, RuleErrors: []rules.RuleError{}}
	ref := "event:" + res.EventID
	if d.PointsReversed > 0 || d.GrowthReversed > 0 {
		e, _, err := s.Ledger.ClawBack(ctx, ledger.ClawBack{
			MemberID: m.ID, OrderID: o.OrderID, Points: d.PointsReversed, Growth: d.GrowthReversed,
			Reason: clip("Refund of order "+o.OrderID, maxReasonRunes), Ref: ref,
		})
		if err != nil {
			return Result{}, err
		}
		d.PointsTaken = -e.Points
	}
	if d.PointsReturned > 0 {
		if _, err := s.Ledger.CreditEntry(ctx, ledger.Credit{
			MemberID: m.ID, Points: d.PointsReturned, Kind: ledger.KindRefund,
			Reason: clip("Points paid on refunded order "+o.OrderID, maxReasonRunes), Ref: ref,
		}); err != nil {
			return Result{}, err
		}
	}
	res.PointsDelta = d.PointsReturned - d.PointsTaken
	res.GrowthDelta = -d.GrowthReversed
	if d.PointsTaken < d.PointsReversed {
		res.Note = fmt.Sprintf("The tenant's refund policy let %d of the %d points the refund reverses be taken back.",
			d.PointsTaken, d.PointsReversed)
	}

	row := eventRow{
		TenantID: platform.TenantID(ctx), ID: res.EventID, MemberID: m.ID, Type: TypeOrderRefunded,
		OccurredAt: p.occurredAt, ReceivedAt: now, PointsDelta: res.PointsDelta, GrowthDelta: res.GrowthDelta,
		OrderID: optional(o.OrderID), Note: res.Note,
	}
	if err := s.insertEvent(ctx, &row, p.attrs, Details{Refund: d}, res.RuleErrors); err != nil {
		return Result{}, err
	}
	err = st.insert(ctx, "refund", &refundRow{
		TenantID: row.TenantID, OrderID: o.OrderID, RefundID: p.refundID, EventID: res.EventID,
		AmountCents: amount, Points: d.PointsReversed, Growth: d.GrowthReversed, PointsReturned: d.PointsReturned,
		CreatedAt: now,
	})
	if err != nil {
		return Result{}, err
	}
	o.RefundedAmountCents += amount
	o.RefundedPoints += d.PointsReversed
	o.RefundedGrowth += d.GrowthReversed
	o.ReturnedPointsUsed += d.PointsReturned
	o.UpdatedAt = now
	if err := st.updateOrderRefunded(ctx, o); err != nil {
		return Result{}, err
	}
	return res, nil
}

// mulDiv returns floor(x*y/z) for non-negative x, y and positive z without
// overflowing: points times cents can exceed int64.
func mulDiv(x, y, z int64) int64 {
	if z <= 0 {
		return 0
	}
	var r big.Int
	r.Mul(big.NewInt(x), big.NewInt(y))
	r.Quo(&r, big.NewInt(z))
	return r.Int64()
}
