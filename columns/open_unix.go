//go:build unix

package columns

import "syscall"

// openFlags: never follow a symbolic link, never wait for a FIFO's writer.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
