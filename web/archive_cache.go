package web

import (
	"container/list"
	"context"
	"sync"

	"newsletter/columns"
)

// DefaultArchiveCache bounds the rendered articles kept for the archive
// pages: a few years of weekly columns.
const DefaultArchiveCache = 32 << 20

// bodyCache keeps the rendered articles of sent columns in memory, as
// bytes ready to write (a ResponseWriter behind middleware takes []byte;
// writing a string there copies it each time), by
// column number, up to max bytes, dropping the least recently read first.
// A sent column never changes (its source is kept with its campaign), so
// its article is rendered once; requests that come while it renders wait
// for that one render. An article bigger than max is rendered for each
// request and not kept.
type bodyCache struct {
	render BodyRenderer
	max    int64

	mu    sync.Mutex
	used  int64
	lru   *list.List // of *cachedBody, most recently read first
	byNum map[int]*list.Element
}

// cachedBody is one column's article; html and err are set when ready is
// closed. html is shared: nobody may change it.
type cachedBody struct {
	number int
	ready  chan struct{}
	html   []byte
	err    error
	size   int64 // what it adds to bodyCache.used; 0 while it renders
}

func newBodyCache(render BodyRenderer, max int64) *bodyCache {
	return &bodyCache{render: render, max: max, lru: list.New(), byNum: map[int]*list.Element{}}
}

// get returns col's article, rendering it only if it is not kept. The
// bytes are shared: do not change them.
func (c *bodyCache) get(ctx context.Context, col *columns.Column) ([]byte, error) {
	c.mu.Lock()
	if el, ok := c.byNum[col.Number]; ok {
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
	b := &cachedBody{number: col.Number, ready: make(chan struct{})}
	el := c.lru.PushFront(b)
	c.byNum[col.Number] = el
	c.mu.Unlock()

	html, err := c.render.BodyHTML(col)
	b.html, b.err = []byte(html), err
	close(b.ready)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byNum[col.Number] != el {
		return b.html, b.err // dropped while it rendered
	}
	size := int64(len(b.html))
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

// remove drops el; c.mu is held.
func (c *bodyCache) remove(el *list.Element) {
	b := c.lru.Remove(el).(*cachedBody)
	delete(c.byNum, b.number)
	c.used -= b.size
}
