//go:build !unix

package columns

// openFlags: no O_NOFOLLOW here; openChecked's comparison with the file
// checked is what refuses a swapped-in link.
const openFlags = 0
