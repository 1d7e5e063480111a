// A program that imports strings, which the test's database says is vulnerable, but never
// calls the vulnerable function (strings.ToUpper).
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() { fmt.Println(strings.ToLower(os.Args[0])) }
