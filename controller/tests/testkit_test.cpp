// The test kit's own hygiene: a test process that dies (abort, ctest's timeout, kill -9) must not
// leave its throwaway PostgreSQL cluster running. Its watchdog stops the cluster at once; when the
// watchdog died with it, the next fixture start does.
#include "testkit.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fogmesh::controller::test {
namespace {

namespace fs = std::filesystem;

// A test process (forked from this one, which has no threads yet) that sets up a pg_cluster as a
// fixture does and waits to be killed. It leads its own process group, so killing the group
// takes its watchdog along.
struct owner_process {
  int pid = -1;
  std::string dir;
  int postmaster = 0;

  owner_process() {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // should this test die first
      ::close(fds[0]);
      try {
        auto* cluster = new pg_cluster();  // never destroyed: this process gets killed
        std::string line = cluster->dir() + "\n";
        if (::write(fds[1], line.data(), line.size()) < 0) ::_exit(1);
      } catch (...) {
        ::_exit(1);
      }
      for (;;) ::pause();
    }
    ::setpgid(pid, pid);
    ::close(fds[1]);
    char c = 0;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') dir += c;
    ::close(fds[0]);
    if (c != '\n') throw std::runtime_error("the owner process failed to start its cluster");
    std::ifstream pid_file(dir + "/pgdata/postmaster.pid");
    pid_file >> postmaster;
  }

  ~owner_process() {
    if (pid > 0) kill(SIGKILL, false);
  }

  void kill(int sig, bool whole_group) {
    ::kill(whole_group ? -pid : pid, sig);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }

  // The postmaster still runs in this directory (its working directory is its data directory).
  bool cluster_running() const {
    std::error_code ec;
    return fs::read_symlink("/proc/" + std::to_string(postmaster) + "/cwd", ec) ==
           fs::path(dir) / "pgdata";
  }
};

// Polls for up to `limit`: clean-up takes an immediate shutdown of the cluster.
bool cleaned_within(const owner_process& o, std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (o.cluster_running() || fs::exists(o.dir)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

TEST(testkit_test, WatchdogStopsTheClusterOfAKilledOwner) {
  owner_process owner;
  ASSERT_GT(owner.postmaster, 0);
  ASSERT_TRUE(owner.cluster_running());
  owner.kill(SIGKILL, false);  // the owner only: its watchdog sees the pipe close
  EXPECT_TRUE(cleaned_within(owner, std::chrono::seconds(30)))
      << owner.dir << " or postmaster " << owner.postmaster << " left behind";
}

TEST(testkit_test, FixtureStartStopsClustersOfDeadOwners) {
  owner_process owner;
  ASSERT_TRUE(owner.cluster_running());
  owner.kill(SIGKILL, true);  // the owner and its watchdog
  EXPECT_TRUE(owner.cluster_running()) << "the cluster should outlive its owner here";

  pg_cluster fresh;  // a fixture start
  EXPECT_TRUE(cleaned_within(owner, std::chrono::seconds(5)))
      << owner.dir << " or postmaster " << owner.postmaster << " left behind";
  // Live owners' directories (this process's) are left alone.
  reap_orphaned_dirs();
  EXPECT_TRUE(fs::exists(fresh.dir() + "/pgdata/postmaster.pid"));
  EXPECT_EQ(fresh.query("SELECT 1"), "1");
}

}  // namespace
}  // namespace fogmesh::controller::test
