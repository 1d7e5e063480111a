// A program that calls strings.ToUpper, which the test's database says is vulnerable.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() { fmt.Println(strings.ToUpper(os.Args[0])) }
