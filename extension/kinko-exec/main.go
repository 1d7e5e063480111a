// Command kinko-exec resolves kinko: references in the environment, then execs the runtime:
// with AWS_LAMBDA_EXEC_WRAPPER=/opt/kinko-exec a managed runtime starts
// `/opt/kinko-exec <runtime command line>`; an OS-only runtime's bootstrap can
// `exec /opt/kinko-exec ./real-bootstrap`. See CONTRACT.md section 10 and README.md.
//
// It is on the cold path of every function that uses it, so it links no AWS SDK, no net/http,
// not even net, fmt or encoding/json: only what a raw loopback HTTP/1.0 GET needs.
package main

import (
	"os"
	"syscall"
)

func main() {
	os.Exit(run(os.Args, os.Environ(), os.Stderr, syscall.Exec, defaultLimits))
}
