// DeviceIdentity: what a device keeps after enrolling with a federated server over TLS, in one
// directory of its own:
//
//   device.key.sealed  the device's Ed25519 private key (32-byte seed) wrapped by the device
//                      Keystore (context "privedge-fl-device-key"): never written in plaintext,
//                      and useless on another device
//   device.crt         the certificate the server's CA issued (CN = device id)
//   ca.crt             the CA certificate the device pinned (given out of band with the token)
//   model_signing.pub  the server's model-signing key, pinned at enrollment
//
//   PE_RETURN_IF_ERROR(net::SaveDeviceIdentity(dir, keystore, identity));
//   PE_ASSIGN_OR_RETURN(net::DeviceIdentity id, net::LoadDeviceIdentity(dir, keystore));
//
// Load checks everything again: the certificate chains to the pinned CA and is valid now (an
// expired one asks for a new enrollment), and matches the unsealed key.
//
// Thread-safety: free functions; the Keystore serializes its own calls.
#pragma once

#include <string>

#include "crypto/signing.h"
#include "privedge/keystore.h"
#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge::net {

struct DeviceIdentity {
  std::string device_id;  // the certificate's CN
  std::string cert_pem;
  std::string ca_cert_pem;
  PublicKey model_key{};
  SecureBuffer key_seed;  // Ed25519 private key
};

// True when `dir` holds a saved identity (its sealed key).
bool HasDeviceIdentity(const std::string& dir);
// Creates `dir` (0700) and writes the four files; refuses to replace an existing identity.
Status SaveDeviceIdentity(const std::string& dir, Keystore& keystore, const DeviceIdentity& id);
Result<DeviceIdentity> LoadDeviceIdentity(const std::string& dir, Keystore& keystore);

}  // namespace privedge::net
