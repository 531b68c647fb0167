package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"jifen/pkg/clock"
	"jifen/pkg/cursor"
	"jifen/platform"
)

// pointsCmd holds maintenance commands for the ledger.
func pointsCmd(getenv func(string) string) *cobra.Command {
	points := &cobra.Command{Use: "points", Short: "Ledger maintenance"}
	var tenantID, at string
	expire := &cobra.Command{
		Use:   "expire",
		Short: "Expire due points, release due pending points and expired holds, for every tenant or one",
		Long: "Settles every account with something due: lots past their expiry get expire entries for exactly\n" +
			"their remainders, pending points past their return window become available, and checkout holds\n" +
			"past their timeout are released. Running it twice does nothing the second time.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := clock.Real{}.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("--at must be an RFC 3339 time such as 2026-12-01T00:00:00Z: %v", err)
				}
				now = t.UTC()
			}
			s, err := loadSettings(getenv)
			if err != nil {
				return err
			}
			a, err := build(cmd.Context(), s, newLogger(s.LogLevel), clock.Real{})
			if err != nil {
				return err
			}
			defer a.close()
			var total int64
			next := ""
			for {
				list, cur, err := a.tenancy.FindTenants(cmd.Context(), "", cursor.MaxLimit, next)
				if err != nil {
					return err
				}
				for _, t := range list {
					if tenantID != "" && t.ID != tenantID {
						continue
					}
					ctx := platform.WithTenant(cmd.Context(), platform.Tenant{ID: t.ID, Name: t.Name, Status: t.Status, TimeZone: t.TimeZone})
					res, err := a.ledger.Sweep(ctx, now)
					if err != nil {
						return fmt.Errorf("tenant %s: %w", t.ID, err)
					}
					total += res.Expired
					fmt.Fprintf(cmd.OutOrStdout(), "tenant %s: %d members settled, %d points expired, %d pending points released, %d holds released\n",
						t.ID, res.Members, res.Expired, res.Released, res.HoldsReleased)
				}
				if cur == "" {
					break
				}
				next = cur
			}
			fmt.Fprintf(cmd.OutOrStdout(), "done: %d points expired in all\n", total)
			return nil
		},
	}
	expire.Flags().StringVar(&tenantID, "tenant", "", "only this tenant id")
	expire.Flags().StringVar(&at, "at", "", "settle as of this time (RFC 3339, default now)")
	points.AddCommand(expire)
	return points
}
