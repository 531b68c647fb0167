package tiers

import "context"

// fillExclusiveItems sets benefits.exclusive_items of each tier in out (all
// of them tiers of ladder) to the mall items it unlocks: those whose
// min_tier_rank is above the rank of the tier below it on the ladder (0
// for the lowest) and at most its own rank. The item's min_tier_rank is the
// one record of who may see it, so the list follows the ladder: adding a
// tier in between takes over the items up to its rank. One read of the
// mall serves every tier in out, so listing the ladder costs one query
// however many tiers it has.
func (s *Service) fillExclusiveItems(ctx context.Context, ladder Ladder, out []Tier) error {
	if len(out) == 0 {
		return nil
	}
	low, high := -1, 0
	for i := range out {
		out[i].Benefits.ExclusiveItems = []ItemRef{}
		floor := ladder.rankBelow(out[i].Rank)
		if low < 0 || floor < low {
			low = floor
		}
		high = max(high, out[i].Rank)
	}
	if s.Items == nil {
		return nil
	}
	items, err := s.Items.ItemsUnlockedBetween(ctx, low, high)
	if err != nil {
		return err
	}
	byRank := make(map[int]int, len(out)) // tier rank → index in out
	for i := range out {
		byRank[out[i].Rank] = i
	}
	for _, it := range items {
		u := ladder.unlocking(it.MinTierRank)
		if u == nil {
			continue
		}
		if i, ok := byRank[u.Rank]; ok {
			out[i].Benefits.ExclusiveItems = append(out[i].Benefits.ExclusiveItems, it)
		}
	}
	return nil
}

// rankBelow returns the rank of the highest tier ranked below rank, 0 when
// there is none.
func (l Ladder) rankBelow(rank int) int {
	below := 0
	for i := range l {
		if l[i].Rank < rank {
			below = l[i].Rank
		}
	}
	return below
}

// unlocking returns the tier that unlocks a mall item with the minimum tier
// rank: the lowest tier ranked at least that high; nil when the rank is 0
// (every member sees the item) or above the top of the ladder (no member
// does).
func (l Ladder) unlocking(minTierRank int) *Tier {
	if minTierRank <= 0 {
		return nil
	}
	for i := range l {
		if l[i].Rank >= minTierRank {
			return &l[i]
		}
	}
	return nil
}
