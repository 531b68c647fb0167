package main

import (
	"context"
	"time"

	"jifen/platform/scheduler"
	"jifen/tenants/events"
	"jifen/tenants/ledger"
	"jifen/tenants/tiers"
)

// Tenant jobs are checked every few minutes and run once a local day, at
// the tenant's local hour, by whichever replica holds the scheduler lease.
const tenantJobEvery = "@every 5m"

// tenantJobs are the scheduled jobs that act on each tenant's programme.
func tenantJobs(l *ledger.Service, t *tiers.Service, e *events.Service) []scheduler.Job {
	return []scheduler.Job{
		{
			Name: "points.settle", Schedule: tenantJobEvery, PerTenant: true, LocalHour: 2,
			Run: func(ctx context.Context, now time.Time) (scheduler.Result, error) {
				r, err := l.Sweep(ctx, now)
				return scheduler.Result{"members": r.Members, "expired": r.Expired, "pending_released": r.Released, "holds_released": r.HoldsReleased}, err
			},
		},
		{
			Name: "tiers.evaluate", Schedule: tenantJobEvery, PerTenant: true, LocalHour: 3,
			Run: func(ctx context.Context, now time.Time) (scheduler.Result, error) {
				r, err := t.EvaluateDowngrades(ctx, now)
				return scheduler.Result{"evaluation": r}, err
			},
		},
		{
			Name: "members.birthdays", Schedule: tenantJobEvery, PerTenant: true, LocalHour: 8,
			Run: func(ctx context.Context, now time.Time) (scheduler.Result, error) {
				r, err := e.AwardBirthdays(ctx, now)
				return scheduler.Result{"local_date": r.LocalDate, "members": r.Members, "awarded": r.Awarded, "repeated": r.Repeated}, err
			},
		},
	}
}
