// `lockstep`: blocks SIGINT and SIGTERM, then executes `lockstep-main` from the same directory.
//
// lockstep-main maps ~40 shared libraries (libhdf5 and its dependencies, cudart) before any of its code
// can install a signal handler: 2-20 ms on a loaded machine in which Ctrl-C or SIGTERM would kill it by
// the default action (issue 13). This launcher is linked statically, so it blocks both signals within
// microseconds of exec; the block survives execve and a signal that arrives meanwhile stays pending
// until lockstep-main's first constructor has installed its handlers and unblocks it.
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <string.h>

#include <unistd.h>

int main(int, char** argv) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);

  static const char kMain[] = "lockstep-main";
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - sizeof kMain - 1);
  char* slash = n > 0 ? static_cast<char*>(::memrchr(path, '/', static_cast<size_t>(n))) : nullptr;
  if (slash == nullptr) {
    std::fputs("lockstep: internal error: cannot locate the lockstep executable (/proc/self/exe)\n", stderr);
    return 3;
  }
  std::memcpy(slash + 1, kMain, sizeof kMain);
  execv(path, argv);
  std::fprintf(stderr, "lockstep: internal error: cannot execute %s: %s\n", path, std::strerror(errno));
  return 3;
}
