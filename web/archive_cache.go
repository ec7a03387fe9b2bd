package web

import (
	"container/list"
	"context"
	"strconv"
	"sync"

	"newsletter/columns"
)

// DefaultArchiveCache bounds the rendered articles and the feed kept for
// the archive pages: a few years of weekly columns.
const DefaultArchiveCache = 32 << 20

// bodyCache keeps rendered answers for the archive in memory: the
// articles of sent columns, by column number, and the Atom feed, by the
// columns it carries. They are kept as bytes ready to write (a
// ResponseWriter behind middleware takes []byte; writing a string there
// copies it each time), up to max bytes together, dropping the least
// recently read first. A sent column never changes (its source is kept
// with its campaign), so each is built once; requests that come while it
// is built wait for that one build. Anything bigger than max is built for
// each request and not kept.
type bodyCache struct {
	render BodyRenderer
	max    int64

	mu    sync.Mutex
	used  int64
	lru   *list.List // of *cachedBody, most recently read first
	byKey map[string]*list.Element
}

// cachedBody is one kept answer; html and err are set when ready is
// closed. html is shared: nobody may change it.
type cachedBody struct {
	key   string
	ready chan struct{}
	html  []byte
	err   error
	size  int64 // what it adds to bodyCache.used; 0 while it is built
}

func newBodyCache(render BodyRenderer, max int64) *bodyCache {
	return &bodyCache{render: render, max: max, lru: list.New(), byKey: map[string]*list.Element{}}
}

// get returns col's article, rendering it only if it is not kept. The
// bytes are shared: do not change them.
func (c *bodyCache) get(ctx context.Context, col *columns.Column) ([]byte, error) {
	return c.keep(ctx, "column "+strconv.Itoa(col.Number), func(context.Context) ([]byte, error) {
		html, err := c.render.BodyHTML(col)
		return []byte(html), err
	})
}

// keep returns what is kept under key, or what build makes, which it then
// keeps if it fits. Only one build per key runs at a time: the others wait
// for it. build gets ctx without its cancellation: those waiting still
// want the answer when the client that started it went away. The bytes
// are shared: do not change them.
func (c *bodyCache) keep(ctx context.Context, key string, build func(context.Context) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if el, ok := c.byKey[key]; ok {
		c.lru.MoveToFront(el)
		b := el.Value.(*cachedBody)
		c.mu.Unlock()
		select {
		case <-b.ready:
			return b.html, b.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	b := &cachedBody{key: key, ready: make(chan struct{})}
	el := c.lru.PushFront(b)
	c.byKey[key] = el
	c.mu.Unlock()

	b.html, b.err = build(context.WithoutCancel(ctx))
	close(b.ready)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey[key] != el {
		return b.html, b.err // dropped while it was built
	}
	size := int64(cap(b.html))
	if b.err != nil || size > c.max {
		c.remove(el) // an error is not kept: the next request tries again
		return b.html, b.err
	}
	b.size = size
	c.used += size
	for c.used > c.max {
		c.remove(c.lru.Back()) // never el itself: it alone fits
	}
	return b.html, b.err
}

// peek returns what is kept under key, building nothing and waiting for
// no build; ok is false when nothing is ready.
func (c *bodyCache) peek(key string) (html []byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	b := el.Value.(*cachedBody)
	select {
	case <-b.ready:
		return b.html, b.err == nil
	default:
		return nil, false
	}
}

// remove drops el; c.mu is held.
func (c *bodyCache) remove(el *list.Element) {
	b := c.lru.Remove(el).(*cachedBody)
	delete(c.byKey, b.key)
	c.used -= b.size
}
