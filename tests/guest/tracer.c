// SPDX-License-Identifier: GPL-2.0-or-later
// Holds a process under ptrace (as a debugger would) until killed, so the
// guest can check that the kmod backend merges a target ptrace could not.
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2 || ptrace(PTRACE_SEIZE, atoi(argv[1]), NULL, NULL) != 0) {
		perror("tracer");
		return 1;
	}
	printf("GUEST tracing %s\n", argv[1]);
	fflush(stdout);
	for (;;)
		pause();
}
