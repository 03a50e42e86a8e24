// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "mergemem/fd.hpp"

namespace mergemem {

void UniqueFd::reset(int fd)
{
	if (fd_ >= 0)
		::close(fd_);
	fd_ = fd;
}

Result<size_t> pread_full(int fd, void* buf, size_t len, off_t off)
{
	size_t done = 0;
	auto* p = static_cast<char*>(buf);
	while (done < len) {
		ssize_t n = ::pread(fd, p + done, len - done, off + off_t(done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "pread");
		}
		if (n == 0)
			break;
		done += size_t(n);
	}
	return done;
}

static Result<std::string> slurp(int fd, const std::string& name)
{
	// proc files report size 0: read until EOF in page-sized steps.
	std::string out;
	size_t cap = 4096;
	for (;;) {
		out.resize(out.size() + cap);
		ssize_t n;
		do
			n = ::read(fd, out.data() + out.size() - cap, cap);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			int e = errno;
			return fail(e, "read " + name);
		}
		out.resize(out.size() - cap + size_t(n));
		if (n == 0)
			return out;
		if (cap < (1u << 20))
			cap *= 2;
	}
}

Result<std::string> read_file_at(int dirfd, const std::string& name)
{
	UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC));
	if (!fd)
		return fail(errno, "open " + name);
	return slurp(fd.get(), name);
}

Result<std::string> read_file(const std::string& path)
{
	return read_file_at(AT_FDCWD, path);
}

} // namespace mergemem
