package db

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static void limit_malloc_arenas(int n) { mallopt(M_ARENA_MAX, n); }
#else
static void limit_malloc_arenas(int n) { (void)n; }
#endif
*/
import "C"

import (
	"os"
	"strings"
	"sync"
)

// mallocArenas is how many glibc malloc arenas SQLite's allocations may
// spread over. SQLite runs on whichever OS thread Go calls it from, and
// glibc gives each new thread that allocates its own arena (up to eight
// per core), each keeping what was freed in it: 1.5 MB of resident memory
// in a campaign for nothing, since SQLite serialises its work on a
// connection anyway.
const mallocArenas = 2

// limitMallocArenas caps the arenas, once per process, unless the operator
// chose otherwise through glibc's own variables. Elsewhere than glibc
// (musl, macOS) it does nothing.
var limitMallocArenas = sync.OnceFunc(func() {
	if os.Getenv("MALLOC_ARENA_MAX") != "" || strings.Contains(os.Getenv("GLIBC_TUNABLES"), "arena_max") {
		return
	}
	C.limit_malloc_arenas(mallocArenas)
})
