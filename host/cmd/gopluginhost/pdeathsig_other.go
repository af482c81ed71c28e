//go:build !linux

package main

import "os/exec"

// dieWithParent is Linux only (Pdeathsig); elsewhere go-plugin's Kill at
// shutdown is all there is.
func dieWithParent(*exec.Cmd) {}
