// Command kinko is the Lambda extension (placeholder while the real one is wired).
package main

var version = "dev"

func main() { _ = version }
