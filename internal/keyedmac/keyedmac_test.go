package keyedmac

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

func reference(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)
}

// The pooled states give what a fresh hmac.New gives, whatever ran on them
// before, also from many goroutines at once.
func TestSumMatchesHMAC(t *testing.T) {
	key := []byte("installation secret")
	m := New(key)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				data := fmt.Appendf(nil, "goroutine %d message %d", g, i)
				if got, want := m.Sum(nil, data), reference(key, data); !hmac.Equal(got, want) {
					t.Errorf("%q: %x, want %x", data, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	// Appends to dst, and a key changed by the caller afterwards is not used.
	k2 := []byte("k2")
	m2 := New(k2)
	k2[0] = 'x'
	got := m2.Sum([]byte("prefix"), []byte("d"))
	if want := append([]byte("prefix"), reference([]byte("k2"), []byte("d"))...); !hmac.Equal(got, want) {
		t.Errorf("Sum = %x, want %x", got, want)
	}
}

func TestDerive(t *testing.T) {
	secret := []byte("installation secret")
	a, b := Derive(secret, "purpose a"), Derive(secret, "purpose b")
	if !hmac.Equal(a, reference(secret, []byte("purpose a"))) || hmac.Equal(a, b) || len(a) != sha256.Size {
		t.Errorf("Derive: %x and %x", a, b)
	}
}

func BenchmarkSum(b *testing.B) {
	m := New([]byte("installation secret"))
	data := []byte("message-id\x00c31.s123456")
	var buf [sha256.Size]byte
	b.ReportAllocs()
	for b.Loop() {
		m.Sum(buf[:0], data)
	}
}
