#include "net/core_service.h"

#include <unistd.h>

#include "common/logging.h"
#include "rpc.pb.h"

namespace hf3fs::net {

CoreService::CoreService(config::Section* config_root,
                         std::function<void(std::string)> request_shutdown,
                         std::function<ServerInfo()> info)
    : config_root_(config_root),
      request_shutdown_(std::move(request_shutdown)),
      info_(std::move(info)) {}

void CoreService::Register(ServiceRegistry& r) {
  constexpr uint32_t kCore = rpc::SERVICE_CORE;
  r.RegisterMethod<core::EchoReq, core::EchoRsp>(
      kCore, core::CORE_ECHO, "core", "echo",
      [](const core::EchoReq& req, core::EchoRsp& rsp, RequestContext& ctx) -> awaitable<Status> {
        rsp.set_text(req.text());
        if (!ctx.request_attachment.empty()) {
          ctx.response_attachment.emplace_back(ctx.request_attachment);
        }
        co_return Status::Ok();
      });
  r.RegisterMethod<core::GetConfigReq, core::GetConfigRsp>(
      kCore, core::CORE_GET_CONFIG, "core", "get_config",
      [this](const core::GetConfigReq&, core::GetConfigRsp& rsp,
             RequestContext&) -> awaitable<Status> {
        // Holds no secret: keys live in key files, the config only names the file.
        rsp.set_toml(config_root_->Render(false));
        co_return Status::Ok();
      });
  r.RegisterMethod<core::HotUpdateConfigReq, core::HotUpdateConfigRsp>(
      kCore, core::CORE_HOT_UPDATE_CONFIG, "core", "hot_update_config",
      [this](const core::HotUpdateConfigReq& req, core::HotUpdateConfigRsp& rsp,
             RequestContext& ctx) -> awaitable<Status> {
        Status st;
        if (!req.key().empty()) {
          st = config_root_->HotUpdateKey(req.key(), req.value());
        } else {
          st = config_root_->HotUpdate(req.toml());
        }
        if (!st.ok()) co_return st;
        HF3FS_LOG_INFO("config.hot_updated peer={} key={}", ctx.peer,
                       req.key().empty() ? "<toml>" : req.key());
        rsp.set_toml(config_root_->Render(false));
        co_return Status::Ok();
      },
      kAdminRole);
  r.RegisterMethod<core::SetLogLevelReq, core::SetLogLevelRsp>(
      kCore, core::CORE_SET_LOG_LEVEL, "core", "set_log_level",
      [](const core::SetLogLevelReq& req, core::SetLogLevelRsp& rsp,
         RequestContext&) -> awaitable<Status> {
        rsp.set_previous_level(logging::GetLevel());
        HF3FS_CO_TRY(logging::SetLevel(req.level()));
        HF3FS_LOG_INFO("log.level_changed level={} previous={}", req.level(),
                       rsp.previous_level());
        co_return Status::Ok();
      },
      kAdminRole);
  r.RegisterMethod<core::ShutdownReq, core::ShutdownRsp>(
      kCore, core::CORE_SHUTDOWN, "core", "shutdown",
      [this](const core::ShutdownReq& req, core::ShutdownRsp&,
             RequestContext& ctx) -> awaitable<Status> {
        HF3FS_LOG_INFO("server.shutdown_requested peer={} reason=\"{}\"", ctx.peer, req.reason());
        request_shutdown_(req.reason().empty() ? "shutdown rpc" : req.reason());
        co_return Status::Ok();
      },
      kAdminRole);
  r.RegisterMethod<core::GetInfoReq, core::GetInfoRsp>(
      kCore, core::CORE_GET_INFO, "core", "get_info",
      [this](const core::GetInfoReq&, core::GetInfoRsp& rsp,
             RequestContext&) -> awaitable<Status> {
        auto info = info_();
        rsp.set_role(info.role);
        rsp.set_version(info.version);
        rsp.set_pid(static_cast<uint32_t>(getpid()));
        rsp.set_start_time_unix_ms(info.start_time_unix_ms);
        rsp.set_rpc_address(info.rpc_address);
        rsp.set_http_address(info.http_address);
        co_return Status::Ok();
      });
}

}  // namespace hf3fs::net
