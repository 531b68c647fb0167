package rules

import (
	"container/list"
	"sync"
)

// DefaultCacheSize is how many compiled rules a Service keeps by default.
const DefaultCacheSize = 20_000

// programCache keeps the compiled program of recently used rules, one
// version per rule (a newer version replaces an older one), and forgets the
// least recently used rule beyond its size. It is safe for concurrent use.
type programCache struct {
	mu    sync.Mutex
	size  int
	order *list.List               // of *cacheEntry, most recently used first
	byKey map[string]*list.Element // tenant id + "/" + rule id
}

type cacheEntry struct {
	key     string
	version int64
	prg     *program
}

func newProgramCache(size int) *programCache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &programCache{size: size, order: list.New(), byKey: make(map[string]*list.Element)}
}

func cacheKey(tenantID, ruleID string) string { return tenantID + "/" + ruleID }

// get returns the program of the rule version, if cached.
func (c *programCache) get(tenantID, ruleID string, version int64) (*program, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[cacheKey(tenantID, ruleID)]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if e.version != version {
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.prg, true
}

// put stores the program of a rule version. An older version of the rule is
// replaced; a newer one already cached (by a racing caller) is kept.
func (c *programCache) put(tenantID, ruleID string, version int64, prg *program) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := cacheKey(tenantID, ruleID)
	if el, ok := c.byKey[key]; ok {
		e := el.Value.(*cacheEntry)
		if e.version <= version {
			e.version, e.prg = version, prg
		}
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, version: version, prg: prg})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
}

// len returns how many rules are cached.
func (c *programCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
