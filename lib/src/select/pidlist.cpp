// SPDX-License-Identifier: GPL-2.0-or-later
#include <pwd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <map>
#include <mutex>
#include <vector>

#include "mergemem/select.hpp"

namespace mergemem {

Result<pid_t> parse_pid(std::string_view s)
{
	// PID_MAX_LIMIT is 2^22 on 64-bit (include/linux/threads.h).
	constexpr long max_pid = 4194304;
	long v = 0;
	auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
	if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v <= 0 || v > max_pid)
		return fail(EINVAL, "'" + std::string(s.substr(0, 40)) + "' is not a pid");
	return pid_t(v);
}

Result<std::vector<pid_t>> parse_pid_list(std::string_view text)
{
	std::vector<pid_t> out;
	size_t i = 0, token = 0;
	auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
	while (i < text.size()) {
		while (i < text.size() && space(text[i]))
			++i;
		size_t j = i;
		while (j < text.size() && !space(text[j]))
			++j;
		if (j > i) {
			++token;
			auto pid = parse_pid(text.substr(i, j - i));
			if (!pid)
				return fail(EINVAL, "token " + std::to_string(token) + ": " + pid.error().context);
			out.push_back(*pid);
		}
		i = j;
	}
	return out;
}

Result<uid_t> resolve_user(std::string_view text)
{
	if (text.empty())
		return fail(EINVAL, "empty user name");
	std::string name(text);
	std::vector<char> buf(16384);
	passwd pw{}, *res = nullptr;
	if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) == 0 && res)
		return res->pw_uid;
	unsigned long v = 0;
	auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
	if (ec == std::errc() && p == text.data() + text.size() && v < UINT_MAX)
		return uid_t(v);
	return fail(ENOENT, "user '" + name + "' does not exist");
}

std::string user_name(uid_t uid)
{
	// --all asks for the same few users hundreds of times: look each up once.
	static std::mutex mu;
	static std::map<uid_t, std::string> cache;
	std::lock_guard lk(mu);
	if (auto it = cache.find(uid); it != cache.end())
		return it->second;
	std::vector<char> buf(16384);
	passwd pw{}, *res = nullptr;
	std::string name = getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res ? res->pw_name : std::to_string(uid);
	cache.emplace(uid, name);
	return name;
}

} // namespace mergemem
