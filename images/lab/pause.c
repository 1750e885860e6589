/*
 * pause: the first process of a lab Pod's sandbox (the kubelet's pause image). It holds
 * the Pod's namespaces open by doing nothing until the runtime stops it with SIGTERM or
 * SIGINT (then exits 0), and as PID 1 of a shared PID namespace it reaps the zombies of
 * orphaned children. Built static by tools/images/build.sh and imported as the only file
 * of an image.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

static void on_child(int sig) {
    (void)sig;
    /* Several children may end behind one SIGCHLD: reap until none is left. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv) {
    struct sigaction sa;

    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("pause (metallb-py lab)");
        return 0;
    }
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
        perror("pause: sigaction");
        return 1;
    }
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &sa, NULL) != 0) {
        perror("pause: sigaction");
        return 1;
    }
    /* pause() returns after each handled signal; only a stop signal ends the loop. */
    while (!stop_signal) {
        pause();
    }
    fprintf(stderr, "pause: got signal %d, exiting\n", (int)stop_signal);
    return 0;
}
