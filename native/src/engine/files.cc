#include "engine/files.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/errors.h"

namespace crossrank::engine {
namespace {

// config.json is a few kB; anything huge is not a config.
constexpr std::size_t kMaxTextFileBytes = 16u << 20;

}  // namespace

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (!out.empty() && out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelError(path + ": not a regular file");
  }
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw ModelError(path + ": read failed: " + std::strerror(error));
    }
    out.append(buffer, static_cast<std::size_t>(got));
    if (out.size() > kMaxTextFileBytes) {
      ::close(fd);
      throw ModelError(path + ": larger than " + std::to_string(kMaxTextFileBytes) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

void require_folder(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw ModelError(path + ": model folder does not exist");
  if (!S_ISDIR(st.st_mode)) throw ModelError(path + ": not a folder");
}

}  // namespace crossrank::engine
