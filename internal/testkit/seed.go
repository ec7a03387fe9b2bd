package testkit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"testing"

	"newsletter/subscribers"
)

// ImportSubscribers adds n subscribers with the given status through the
// store's streaming CSV import: addresses <prefix><i>@example.net, names
// "Leserin <prefix><i>", language de, in order of i (so in id order).
// The rows are generated while the import reads them, so memory stays flat
// for a benchmark's million. Pending subscribers get no confirmation mail,
// as with any import; every row gets its `imported` consent event.
func ImportSubscribers(tb testing.TB, store *subscribers.Store, prefix string, n int, status subscribers.Status) {
	tb.Helper()
	if n == 0 {
		return
	}
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		fmt.Fprintln(w, "email,name,status,lang")
		for i := range n {
			fmt.Fprintf(w, "%s%d@example.net,Leserin %s%d,%s,de\n", prefix, i, prefix, i, status)
		}
		pw.CloseWithError(w.Flush()) // nil closes normally
	}()
	var problems []subscribers.ImportProblem
	res, err := store.Import(context.Background(), pr, subscribers.ImportOptions{
		Source: "testkit", ConsentNote: "seeded by a test", BatchSize: 5000,
	}, func(p subscribers.ImportProblem) { problems = append(problems, p) })
	pr.Close() // unblocks the writer if the import stopped early
	if err != nil || res.Added != n || len(problems) > 0 {
		tb.Fatalf("seed %d %s subscribers %q…: %+v, problems %+v, %v", n, status, prefix, res, problems, err)
	}
}

// AddSubscribers is ImportSubscribers for the few subscribers a test looks
// at one by one: it returns their ids, in order of i.
func AddSubscribers(tb testing.TB, store *subscribers.Store, prefix string, n int, status subscribers.Status) []int64 {
	tb.Helper()
	ImportSubscribers(tb, store, prefix, n, status)
	ids := make([]int64, 0, n)
	for i := range n {
		sub, err := store.FindByEmail(context.Background(), fmt.Sprintf("%s%d@example.net", prefix, i))
		if err != nil {
			tb.Fatalf("seeded subscriber %s%d: %v", prefix, i, err)
		}
		ids = append(ids, sub.ID)
	}
	return ids
}
