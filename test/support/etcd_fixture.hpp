// Test support: throwaway etcd 3.4 clusters on 127.0.0.1 and a test PKI.
#pragma once

#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coordination::test {

// Absolute paths of PEM files (EC P-256 keys, PKCS#8, unencrypted).
struct tls_files {
  std::string ca;           // <dir>/ca.pem: signs server and client certificates
  std::string server_cert;  // <dir>/server.pem: CN=localhost, SAN IP:127.0.0.1, DNS:localhost,
                            //   EKU serverAuth + clientAuth (the 3.4 gRPC gateway dials itself
                            //   with it when client cert auth is on)
  std::string server_key;   // <dir>/server-key.pem
  std::string client_cert;  // <dir>/client.pem: CN=client, EKU clientAuth
  std::string client_key;   // <dir>/client-key.pem
  std::string other_ca;     // <dir>/other-ca.pem: unrelated CA, for wrong-CA tests
};

// Creates `dir` if needed and writes the PKI above into it using the openssl
// CLI.  Throws std::runtime_error with the openssl output on failure.
tls_files make_test_pki(const std::string& dir);

struct etcd_options {
  // Serve clients over https with tls->server_cert / server_key.  Peer traffic
  // stays plain http.
  std::optional<tls_files> tls;
  // Require client certificates signed by tls->ca (--client-cert-auth and
  // --trusted-ca-file; note that etcd enables client cert auth whenever
  // --trusted-ca-file is given, so it is only passed together with this).
  bool client_cert_auth = false;
  // Appended to every member's etcd command line.
  std::vector<std::string> extra_args;
  // Separate listeners (etcd 3.4.25+, 3.5.8+, 3.6): client_url(i) is --listen-client-http-urls
  // (the gateway), and --listen-client-urls is a gRPC-only port of its own (grpc_url(i)), which
  // is what the member advertises (so the member list names only gRPC URLs).
  bool separate_http_listener = false;
};

// An etcd cluster of local processes in a fresh temporary directory.  Members
// are named m0, m1, ...; their data dirs are <tmp>/m<i>.  Not thread-safe
// (use from the test thread); log_tail() may be called from anywhere.
class etcd_cluster {
 public:
  // Starts all members concurrently and waits until each one serves clients.
  // Retries once with new ports; throws std::runtime_error (with the members'
  // log tails) if that fails too or a member is not ready within 30 s.
  explicit etcd_cluster(int members = 1, etcd_options opts = {});
  ~etcd_cluster();  // SIGKILLs all members, reaps them, removes the temporary directory
  etcd_cluster(const etcd_cluster&) = delete;
  etcd_cluster& operator=(const etcd_cluster&) = delete;

  int size() const;
  std::vector<std::string> client_urls() const;  // "http://127.0.0.1:PORT" ("https" with tls)
  std::string client_url(int i) const;
  std::string endpoints_csv() const;  // client_urls() joined with ','
  std::string grpc_url(int i) const;  // with separate_http_listener: the gRPC-only listener

  // Sends `sig` to member i.  For SIGKILL and SIGTERM also waits for the
  // process to exit (SIGTERM is followed by SIGCONT so paused members exit).
  void kill(int i, int sig = SIGKILL);
  void pause(int i);   // SIGSTOP; returns once every thread of it is stopped
  void resume(int i);  // SIGCONT

  // Stops member i if it is still running, then starts it again with the same
  // data dir and ports and waits (30 s) until it serves clients.  A member
  // only becomes ready when it can reach a quorum: to bring back a majority of
  // a cluster at once use restart_members().  Throws std::runtime_error.
  void restart(int i);
  void restart_members(const std::vector<int>& members);  // concurrently

  bool running(int i);  // the member's process has not exited

  // Last ~200 lines of member i's (current incarnation's) output.
  std::string log_tail(int i) const;

  // {"etcdctl", "--endpoints=<client_url(i)>"} plus, with tls,
  // "--cacert=", "--cert=", "--key=" (the client certificate).
  std::vector<std::string> etcdctl_args(int i = 0) const;

  std::string data_dir(int i) const;
  std::string temp_dir() const;  // parent of the data dirs

 private:
  struct member;

  std::string scheme() const;
  std::vector<std::string> member_command(int i) const;
  void launch(int i);
  // Empty string on success, otherwise a description including log tails.
  std::string await_ready(const std::vector<int>& members);
  void stop_all() noexcept;
  member& at(int i) const;

  etcd_options opts_;
  std::string dir_;
  std::string token_;
  std::vector<std::unique_ptr<member>> members_;
};

}  // namespace coordination::test
