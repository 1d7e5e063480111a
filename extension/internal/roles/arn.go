// Package roles reads with other roles' credentials (roleArn, CONTRACT.md section 3): it
// assumes a role with STS AssumeRole, signed with the sandbox's own credentials, keeps the
// session's credentials and refreshes them before they expire, and holds one cache per role
// (a Set), so a value read under one identity never answers another.
//
// AssumeRole is spoken here, in STS's query protocol over the SDK's own v4 signer, rather than
// through the SDK's STS client: that client links a schema package and endpoint tables that
// initialise at every start of every function (0.3 ms, 120 KB), for a feature few use. Nothing
// here costs anything until the first roleArn.
package roles

import (
	"strconv"
	"strings"

	"github.com/kinko-dev/kinko/extension/internal/kinko"
)

// Role is a role ARN, arn:<partition>:iam::<account>:role/<path/><name>.
type Role struct {
	ARN       string
	Partition string
	Account   string
	Name      string // the role's name, without its path
}

// STS's bounds on RoleArn (its API reference: 20 to 2048 characters), and IAM's on a role name.
const (
	minARN  = 20
	maxARN  = 2048
	maxName = 64
)

// Parse reads a role ARN. Its error is a *kinko.Error (BadRequest) naming the ARN and saying
// what is wrong with it.
func Parse(arn string) (Role, error) {
	problem := func(what string) (Role, error) {
		return Role{}, &kinko.Error{Code: kinko.BadRequest, Message: "roleArn " + strconv.Quote(kinko.Clip(arn)) +
			" is not a role ARN: " + what + "; write arn:aws:iam::123456789012:role/NAME"}
	}
	quote := func(s string) string { return strconv.Quote(kinko.Clip(s)) }
	if len(arn) < minARN || len(arn) > maxARN {
		return problem("it is " + strconv.Itoa(len(arn)) + " characters long, and STS takes 20 to 2048")
	}
	f := strings.SplitN(arn, ":", 6)
	if len(f) != 6 || f[0] != "arn" {
		return problem("it does not have the six fields of an ARN, arn:PARTITION:iam::ACCOUNT:role/NAME")
	}
	partition, service, region, account, resource := f[1], f[2], f[3], f[4], f[5]
	if !isPartition(partition) {
		return problem("the partition " + quote(partition) + " is not one of AWS's (aws, aws-cn, aws-us-gov, ...)")
	}
	if service != "iam" {
		return problem("the service is " + quote(service) + "; a role's is iam")
	}
	if region != "" {
		return problem("the region field holds " + quote(region) + "; a role's is empty (iam::)")
	}
	if len(account) != 12 || strings.Trim(account, "0123456789") != "" {
		return problem("the account " + quote(account) + " is not 12 digits")
	}
	rest, ok := strings.CutPrefix(resource, "role/")
	if !ok {
		return problem("the resource " + quote(resource) + " is not role/NAME")
	}
	// IAM paths are / or /segments/ of printable ASCII; names are letters, digits and +=,.@_-.
	slash := strings.LastIndexByte(rest, '/')
	path, name := rest[:slash+1], rest[slash+1:]
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c > '~' {
			return problem("the role's path has the character " + strconv.QuoteRune(rune(c)) + ", which IAM paths do not")
		}
	}
	if strings.Contains(path, "//") {
		return problem("the role's path has an empty segment")
	}
	switch {
	case name == "":
		return problem("the role name is empty")
	case len(name) > maxName:
		return problem("the role name is " + strconv.Itoa(len(name)) + " characters long, over IAM's 64")
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i]) {
			return problem("the role name has the character " + strconv.QuoteRune(rune(name[i])) + "; IAM allows letters, digits and +=,.@_-")
		}
	}
	return Role{ARN: arn, Partition: partition, Account: account, Name: name}, nil
}

// isPartition reports whether p looks like an AWS partition: aws, then lower-case words.
func isPartition(p string) bool {
	rest, ok := strings.CutPrefix(p, "aws")
	if !ok {
		return false
	}
	for _, w := range strings.Split(rest, "-")[1:] {
		if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	return rest == "" || rest[0] == '-'
}

// nameChar is IAM's role name set, which is also STS's role session name set: [\w+=,.@-].
func nameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0
}

// STS's bounds on a role session name.
const (
	minSession = 2
	maxSession = 64
)

// SessionName is the role session name kinko assumes roles under: kinko and the function's
// name, so CloudTrail and the role's sessions say who read. It is held to STS's set
// ([\w+=,.@-], other characters become '-') and its 64 characters.
func SessionName(function string) string {
	b := []byte("kinko")
	if function != "" {
		b = append(b, '-')
		for i := 0; i < len(function) && len(b) < maxSession; i++ {
			c := function[i]
			if !nameChar(c) {
				c = '-'
			}
			b = append(b, c)
		}
	}
	return string(b)
}
