package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the plugin if this host dies without
// stopping it (SIGKILL, a crash): no orphan keeps serving nobody.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
