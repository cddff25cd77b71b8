package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "shadowtap: under construction")
	os.Exit(2)
}
