package storage

import (
	"context"
	"errors"
	"sync"
)

// Cache is a small key-value store that lives exactly as long as one
// attempt of the outermost transaction. It is for what a transaction may
// safely remember: a row it read under a lock it holds (nobody else can
// change the row before the commit), a row it wrote itself, settings it
// reads many times. Whoever writes such a row in the transaction must
// update or delete the entry, so the cache never disagrees with what the
// transaction would read.
//
// A rollback to a savepoint undoes writes but not the cache: code that
// rolls back to a savepoint calls Clear, so nothing written after the
// savepoint is remembered (row locks survive such a rollback, so clearing
// costs only reads).
//
// Keys are compared like map keys; as with context keys, each package
// uses an unexported key type of its own so packages can't collide. A nil
// *Cache (outside a transaction) remembers nothing: Get finds nothing, Set
// and Delete do nothing, so callers need no special case.
type Cache struct {
	mu     sync.Mutex
	values map[any]any
}

// TxCache returns the cache of the context's transaction, or nil outside a
// transaction. An inner Tx shares the outer transaction's cache; a retried
// transaction starts every attempt with an empty one, so nothing read in a
// rolled-back attempt survives.
func TxCache(ctx context.Context) *Cache {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return st.cache
	}
	return nil
}

// Get returns the value stored under key.
func (c *Cache) Get(key any) (any, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.values[key]
	return v, ok
}

// Set stores value under key.
func (c *Cache) Set(key, value any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.values[key] = value
}

// Delete forgets key.
func (c *Cache) Delete(key any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.values, key)
}

// Clear forgets everything, for a transaction that rolled back to a
// savepoint.
func (c *Cache) Clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.values)
}

// Savepoint runs fn inside a savepoint of the context's transaction: when
// fn fails, its writes are rolled back (and the transaction's cache
// cleared, since it may remember them) while the transaction goes on.
// Outside a transaction fn simply runs.
func (db *DB) Savepoint(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if !InTx(ctx) {
		return fn(ctx)
	}
	tx := db.Conn(ctx)
	if err := tx.SavePoint(name).Error; err != nil {
		return err
	}
	err := fn(ctx)
	if err != nil {
		TxCache(ctx).Clear()
		if rbErr := tx.RollbackTo(name).Error; rbErr != nil {
			return errors.Join(err, rbErr)
		}
	}
	return err
}
