#include "support/etcd_fixture.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "support/process.hpp"

namespace coordination::test {
namespace {

namespace fs = std::filesystem;

constexpr auto ready_timeout = std::chrono::seconds(30);
constexpr int start_attempts = 2;

// etcd 3.4 with --logger=zap prints this (embed/serve.go) once the server is
// ready (published to the cluster) and the client listener is about to be
// served: "serving client traffic insecurely; this is strongly discouraged!"
// or "serving client traffic securely".  "ready to serve client requests" is
// only printed by 3.4 with the capnslog logger, and by 3.5+ with zap.
bool is_ready_line(std::string_view line) {
  return line.find("\"msg\":\"serving client traffic") != std::string_view::npos ||
         line.find("ready to serve client requests") != std::string_view::npos;
}

// Picks `n` distinct ports that are currently free on 127.0.0.1.
std::vector<int> pick_free_ports(int n) {
  std::vector<int> socks;
  std::vector<int> ports;
  auto close_all = [&] {
    for (int s : socks) ::close(s);
  };
  for (int k = 0; k < n; ++k) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      int err = errno;
      close_all();
      throw std::system_error(err, std::generic_category(), "socket");
    }
    socks.push_back(s);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      int err = errno;
      close_all();
      throw std::system_error(err, std::generic_category(), "bind 127.0.0.1:0");
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  close_all();
  return ports;
}

std::string make_temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = (base != nullptr && *base != '\0') ? base : "/tmp";
  tmpl += "/coord-etcd-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
  }
  return tmpl;
}

std::string unique_token() {
  static std::atomic<unsigned> counter{0};
  std::random_device rd;
  std::ostringstream os;
  os << "coord-test-" << ::getpid() << '-' << counter++ << '-' << std::hex << rd();
  return os.str();
}

// $COORD_ETCD_BIN when set (scripts/test.sh --etcd 3.5 sets it), else "etcd" from PATH; etcdctl
// from the same directory when that has one.
std::string etcd_binary() {
  const char* bin = std::getenv("COORD_ETCD_BIN");
  return bin && *bin ? bin : "etcd";
}

std::string etcdctl_binary() {
  const char* bin = std::getenv("COORD_ETCD_BIN");
  if (!bin || !*bin) return "etcdctl";
  auto ctl = fs::path(bin).parent_path() / "etcdctl";
  return fs::exists(ctl) ? ctl.string() : "etcdctl";
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    if (k != 0) out += sep;
    out += parts[k];
  }
  return out;
}

std::string describe_status(std::optional<int> status) {
  if (!status) return "still running";
  if (*status > 128) return "killed by signal " + std::to_string(*status - 128);
  return "exit status " + std::to_string(*status);
}

// ---------------------------------------------------------------- PKI ----

constexpr std::string_view openssl_config = R"([req]
distinguished_name = dn
prompt = no

[dn]
CN = placeholder

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
)";

void openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  std::string output;
  int status = run_command(args, &output);
  if (status != 0) {
    throw std::runtime_error("make_test_pki: '" + join(args, " ") + "' failed (" +
                             describe_status(status) + "):\n" + output);
  }
}

std::string random_serial() {
  std::random_device rd;
  std::uint64_t v = (std::uint64_t{rd()} << 32 | rd()) & 0x7fffffffffffffffULL;
  std::ostringstream os;
  os << "0x" << std::hex << (v | 1);
  return os.str();
}

void make_key(const std::string& path) {
  openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path});
}

void make_ca(const std::string& config, const std::string& key, const std::string& cert,
             const std::string& cn) {
  make_key(key);
  openssl({"req", "-new", "-x509", "-config", config, "-key", key, "-subj", "/CN=" + cn, "-days",
           "3650", "-sha256", "-extensions", "ca_ext", "-out", cert});
}

void make_leaf(const std::string& config, const std::string& dir, const std::string& name,
               const std::string& cn, const std::string& extensions, const std::string& ca,
               const std::string& ca_key) {
  const std::string key = dir + "/" + name + "-key.pem";
  const std::string csr = dir + "/" + name + ".csr";
  make_key(key);
  openssl({"req", "-new", "-config", config, "-key", key, "-subj", "/CN=" + cn, "-out", csr});
  openssl({"x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", random_serial(),
           "-days", "3650", "-sha256", "-extfile", config, "-extensions", extensions, "-out",
           dir + "/" + name + ".pem"});
  std::error_code ec;
  fs::remove(csr, ec);
}

}  // namespace

tls_files make_test_pki(const std::string& dir_arg) {
  std::error_code ec;
  fs::create_directories(dir_arg, ec);
  if (ec) throw std::runtime_error("make_test_pki: cannot create " + dir_arg + ": " + ec.message());
  const std::string dir = fs::absolute(dir_arg).lexically_normal().string();
  const std::string config = dir + "/openssl.cnf";
  {
    std::ofstream out(config, std::ios::trunc);
    out << openssl_config;
    if (!out) throw std::runtime_error("make_test_pki: cannot write " + config);
  }
  tls_files f;
  f.ca = dir + "/ca.pem";
  f.server_cert = dir + "/server.pem";
  f.server_key = dir + "/server-key.pem";
  f.client_cert = dir + "/client.pem";
  f.client_key = dir + "/client-key.pem";
  f.other_ca = dir + "/other-ca.pem";
  const std::string ca_key = dir + "/ca-key.pem";
  make_ca(config, ca_key, f.ca, "coordination-test-ca");
  make_leaf(config, dir, "server", "localhost", "server_ext", f.ca, ca_key);
  make_leaf(config, dir, "client", "client", "client_ext", f.ca, ca_key);
  make_ca(config, dir + "/other-ca-key.pem", f.other_ca, "coordination-test-other-ca");
  return f;
}

// ------------------------------------------------------------ cluster ----

struct etcd_cluster::member {
  int client_port = 0;
  int peer_port = 0;
  int grpc_port = 0;  // separate_http_listener only
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;   // guarded by mu
  bool closed = false;  // output closed (process gone); guarded by mu
  child_process proc;   // declared last: its reader thread goes before mu/cv
};

etcd_cluster::etcd_cluster(int members, etcd_options opts) : opts_(std::move(opts)) {
  if (members < 1) throw std::invalid_argument("etcd_cluster: members must be >= 1");
  if (opts_.client_cert_auth && !opts_.tls) {
    throw std::invalid_argument("etcd_cluster: client_cert_auth requires tls");
  }
  dir_ = make_temp_dir();
  try {
    for (int i = 0; i < members; ++i) members_.push_back(std::make_unique<member>());
    std::vector<int> all(static_cast<std::size_t>(members));
    for (int i = 0; i < members; ++i) all[static_cast<std::size_t>(i)] = i;

    std::string failures;
    for (int attempt = 1; attempt <= start_attempts; ++attempt) {
      // A port picked free may be taken before etcd binds it: on failure
      // start over with new ports, a new token and empty data dirs.
      std::vector<int> ports = pick_free_ports(3 * members);
      for (int i = 0; i < members; ++i) {
        at(i).client_port = ports[static_cast<std::size_t>(3 * i)];
        at(i).peer_port = ports[static_cast<std::size_t>(3 * i + 1)];
        at(i).grpc_port = ports[static_cast<std::size_t>(3 * i + 2)];
        std::error_code ec;
        fs::remove_all(data_dir(i), ec);
      }
      token_ = unique_token();
      for (int i = 0; i < members; ++i) launch(i);
      std::string error = await_ready(all);
      if (error.empty()) return;
      failures += "attempt " + std::to_string(attempt) + ": " + error;
      stop_all();
    }
    throw std::runtime_error("etcd_cluster: could not start " + std::to_string(members) +
                             " member(s):\n" + failures);
  } catch (...) {
    stop_all();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

etcd_cluster::~etcd_cluster() {
  stop_all();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

etcd_cluster::member& etcd_cluster::at(int i) const {
  if (i < 0 || i >= size()) {
    throw std::out_of_range("etcd_cluster: no member " + std::to_string(i));
  }
  return *members_[static_cast<std::size_t>(i)];
}

int etcd_cluster::size() const {
  return static_cast<int>(members_.size());
}

std::string etcd_cluster::scheme() const {
  return opts_.tls ? "https" : "http";
}

std::string etcd_cluster::client_url(int i) const {
  return scheme() + "://127.0.0.1:" + std::to_string(at(i).client_port);
}

std::vector<std::string> etcd_cluster::client_urls() const {
  std::vector<std::string> urls;
  for (int i = 0; i < size(); ++i) urls.push_back(client_url(i));
  return urls;
}

std::string etcd_cluster::endpoints_csv() const {
  return join(client_urls(), ",");
}

std::string etcd_cluster::data_dir(int i) const {
  at(i);
  return dir_ + "/m" + std::to_string(i);
}

std::string etcd_cluster::temp_dir() const {
  return dir_;
}

std::string etcd_cluster::grpc_url(int i) const {
  return scheme() + "://127.0.0.1:" + std::to_string(at(i).grpc_port);
}

std::vector<std::string> etcd_cluster::member_command(int i) const {
  auto peer_url = [this](int k) { return "http://127.0.0.1:" + std::to_string(at(k).peer_port); };
  std::vector<std::string> initial;
  for (int k = 0; k < size(); ++k) initial.push_back("m" + std::to_string(k) + "=" + peer_url(k));
  std::vector<std::string> cmd = {etcd_binary(),
                                  "--name=m" + std::to_string(i),
                                  "--data-dir=" + data_dir(i),
                                  "--listen-client-urls=" + client_url(i),
                                  "--advertise-client-urls=" + client_url(i),
                                  "--listen-peer-urls=" + peer_url(i),
                                  "--initial-advertise-peer-urls=" + peer_url(i),
                                  "--initial-cluster=" + join(initial, ","),
                                  "--initial-cluster-state=new",
                                  "--initial-cluster-token=" + token_,
                                  "--logger=zap",
                                  "--log-outputs=stderr"};
  if (opts_.separate_http_listener) {
    cmd[3] = "--listen-client-urls=" + grpc_url(i);
    cmd[4] = "--advertise-client-urls=" + grpc_url(i);
    cmd.push_back("--listen-client-http-urls=" + client_url(i));
  }
  if (opts_.tls) {
    cmd.push_back("--cert-file=" + opts_.tls->server_cert);
    cmd.push_back("--key-file=" + opts_.tls->server_key);
    if (opts_.client_cert_auth) {
      cmd.push_back("--client-cert-auth");
      cmd.push_back("--trusted-ca-file=" + opts_.tls->ca);
    }
  }
  cmd.insert(cmd.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  return cmd;
}

void etcd_cluster::launch(int i) {
  member& m = at(i);
  m.proc.stop();
  {
    std::lock_guard lk(m.mu);
    m.ready = false;
    m.closed = false;
  }
  member* mp = &m;
  m.proc = child_process::spawn(
      member_command(i), {},
      [mp](std::string_view line) {
        if (!is_ready_line(line)) return;
        {
          std::lock_guard lk(mp->mu);
          mp->ready = true;
        }
        mp->cv.notify_all();
      },
      [mp] {
        {
          std::lock_guard lk(mp->mu);
          mp->closed = true;
        }
        mp->cv.notify_all();
      });
}

std::string etcd_cluster::await_ready(const std::vector<int>& which) {
  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  std::string error;
  for (int i : which) {
    member& m = at(i);
    bool ready = false;
    bool closed = false;
    {
      std::unique_lock lk(m.mu);
      m.cv.wait_until(lk, deadline, [&] { return m.ready || m.closed; });
      ready = m.ready;
      closed = m.closed;
    }
    if (ready) continue;
    std::string what = "not ready within 30 s";
    if (closed) {
      m.proc.wait();  // its output is closed: it has exited or is about to
      what = "exited (" + describe_status(m.proc.exit_status()) + ") before it was ready";
    }
    error += "member m" + std::to_string(i) + " (client " + client_url(i) + ") " + what + "\n";
  }
  if (error.empty()) return error;
  for (int i : which) {
    error += "---- log tail of m" + std::to_string(i) + " ----\n" + log_tail(i);
  }
  return error;
}

void etcd_cluster::stop_all() noexcept {
  // The data is thrown away, so skip etcd's graceful shutdown: with SIGTERM a
  // 3-member cluster takes ~3 s to stop (the leader tries to hand over
  // leadership to members that are exiting too).
  for (auto& m : members_) m->proc.signal(SIGKILL);
  for (auto& m : members_) m->proc.wait();
}

void etcd_cluster::kill(int i, int sig) {
  member& m = at(i);
  m.proc.signal(sig);
  if (sig == SIGTERM) m.proc.signal(SIGCONT);
  if (sig == SIGKILL || sig == SIGTERM) m.proc.wait();
}

void etcd_cluster::pause(int i) {
  at(i).proc.signal(SIGSTOP);
  // Until the group stop has reached every thread, the member still answers.
  if (!at(i).proc.wait_stopped(std::chrono::seconds(5)))
    throw std::runtime_error("etcd member " + std::to_string(i) +
                             " was not stopped 5 s after SIGSTOP");
}

void etcd_cluster::resume(int i) {
  at(i).proc.signal(SIGCONT);
}

bool etcd_cluster::running(int i) {
  return at(i).proc.running();
}

void etcd_cluster::restart(int i) {
  restart_members({i});
}

void etcd_cluster::restart_members(const std::vector<int>& which) {
  for (int i : which) at(i).proc.stop();
  for (int i : which) launch(i);
  std::string error = await_ready(which);
  if (!error.empty()) throw std::runtime_error("etcd_cluster: restart failed:\n" + error);
}

std::string etcd_cluster::log_tail(int i) const {
  return at(i).proc.log_tail();
}

std::vector<std::string> etcd_cluster::etcdctl_args(int i) const {
  std::vector<std::string> args = {etcdctl_binary(), "--endpoints=" + client_url(i)};
  if (opts_.tls) {
    args.push_back("--cacert=" + opts_.tls->ca);
    args.push_back("--cert=" + opts_.tls->client_cert);
    args.push_back("--key=" + opts_.tls->client_key);
  }
  return args;
}

}  // namespace coordination::test
