# ruff: noqa: E501
"""Verbatim copies of recorded payloads used as the WireServer's default replies.

The server must work where the shared fixture tree does not exist (an installed
wheel), so the few recordings it replies with by default are embedded here.
Each constant is a byte-exact copy of a file under ``tests/fixtures/wire``
(see PROVENANCE.md there for source repository, commit and license);
``tests/core/test_wire_server.py`` fails if a copy drifts from its source.
"""

from __future__ import annotations

__all__ = [
    "AZURE_CHAT_COMPLETION",
    "AZURE_CHAT_STREAM",
    "EMBEDDING_MODEL",
    "EMBEDDING_VECTORS_BASE64",
    "OPENAI_CHAT_COMPLETION",
    "OPENAI_CHAT_HEADERS",
    "OPENAI_CHAT_STREAM",
    "SOURCES",
]

# constant name -> fixture name it copies (relative to tests/fixtures/wire)
SOURCES = {
    "OPENAI_CHAT_COMPLETION": "openai/chat_completion_after_tool_result.json",
    "OPENAI_CHAT_HEADERS": "openai/chat_completion_after_tool_result.headers.json",
    "OPENAI_CHAT_STREAM": "openai/chat_stream_text_include_usage.sse",
    "AZURE_CHAT_COMPLETION": "azure/chat_completion_content_filter_results.json",
    "AZURE_CHAT_STREAM": "azure/chat_stream_text_include_usage.sse",
    "EMBEDDING_VECTORS_BASE64": "openai/embeddings_base64.json",
}

# simonw/llm cassette (Apache-2.0), plain chat completion answering "YES".
OPENAI_CHAT_COMPLETION = r"""{
  "id": "chatcmpl-BWpGTZY785VsZipCO0bAvF7Z7tjdA",
  "object": "chat.completion",
  "created": 1747163257,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "YES",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 146,
    "completion_tokens": 3,
    "total_tokens": 149,
    "prompt_tokens_details": {
      "cached_tokens": 0,
      "audio_tokens": 0
    },
    "completion_tokens_details": {
      "reasoning_tokens": 0,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default",
  "system_fingerprint": "fp_0392822090"
}
"""

# The rate-limit and version response headers recorded with OPENAI_CHAT_COMPLETION.
OPENAI_CHAT_HEADERS: tuple[tuple[str, str], ...] = (
    ("openai-processing-ms", "222"),
    ("openai-version", "2020-10-01"),
    ("x-ratelimit-limit-requests", "30000"),
    ("x-ratelimit-limit-tokens", "150000000"),
    ("x-ratelimit-remaining-requests", "29999"),
    ("x-ratelimit-remaining-tokens", "149999974"),
    ("x-ratelimit-reset-requests", "2ms"),
    ("x-ratelimit-reset-tokens", "0s"),
)

# simonw/llm cassette (Apache-2.0), text stream with stream_options.include_usage.
OPENAI_CHAT_STREAM = r"""data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"The"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" result"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" of"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" \\("},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"123"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"1"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" \\"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"times"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"233"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"1"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" \\"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":")"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" is"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" \\("},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"2"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":","},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"869"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":","},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":"461"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":" \\"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{"content":")."},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-BWlJCN7VZTtSHROczp0AbrjFGhRMA","object":"chat.completion.chunk","created":1747148050,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_0392822090","choices":[],"usage":{"prompt_tokens":87,"completion_tokens":26,"total_tokens":113,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}

data: [DONE]

"""

# pydantic-ai cassette (MIT), Azure chat completion with content filter results.
AZURE_CHAT_COMPLETION = r"""{
  "choices": [
    {
      "content_filter_results": {
        "hate": {
          "filtered": false,
          "severity": "safe"
        },
        "protected_material_code": {
          "detected": false,
          "filtered": false
        },
        "protected_material_text": {
          "detected": false,
          "filtered": false
        },
        "self_harm": {
          "filtered": false,
          "severity": "safe"
        },
        "sexual": {
          "filtered": false,
          "severity": "safe"
        },
        "violence": {
          "filtered": false,
          "severity": "safe"
        }
      },
      "finish_reason": "stop",
      "index": 0,
      "logprobs": null,
      "message": {
        "content": "The capital of France is **Paris**.",
        "refusal": null,
        "role": "assistant"
      }
    }
  ],
  "created": 1741880483,
  "id": "chatcmpl-BAeyRj7gU6aCNSSAskAFbupBWYMIT",
  "model": "gpt-4o-2024-11-20",
  "object": "chat.completion",
  "prompt_filter_results": [
    {
      "content_filter_results": {
        "hate": {
          "filtered": false,
          "severity": "safe"
        },
        "jailbreak": {
          "detected": false,
          "filtered": false
        },
        "self_harm": {
          "filtered": false,
          "severity": "safe"
        },
        "sexual": {
          "filtered": false,
          "severity": "safe"
        },
        "violence": {
          "filtered": false,
          "severity": "safe"
        }
      },
      "prompt_index": 0
    }
  ],
  "system_fingerprint": "fp_ded0d14823",
  "usage": {
    "completion_tokens": 9,
    "completion_tokens_details": {
      "accepted_prediction_tokens": 0,
      "audio_tokens": 0,
      "reasoning_tokens": 0,
      "rejected_prediction_tokens": 0
    },
    "prompt_tokens": 14,
    "prompt_tokens_details": {
      "audio_tokens": 0,
      "cached_tokens": 0
    },
    "total_tokens": 23
  }
}
"""

# crewAI cassette (MIT), Azure text stream with filter-only first chunk and usage.
AZURE_CHAT_STREAM = r"""data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}]}

data: {"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"kK","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":"Hello"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"AELkdaSG1tO5NZT","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":"!"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"VbV","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" How"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" can"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" I"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"ku","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" assist"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"FP6tH04VTqNVn","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" you"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" today"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"E0aIEKp9stWlH6","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":"?"},"finish_reason":null,"index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"hBg","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"iGT82O6VzXyPcA","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":null}

data: {"choices":[],"created":1769122116,"id":"chatcmpl-D0xlcDvxBE8sfHG0Q8B84MZtlYbab","model":"gpt-4o-mini-2024-07-18","obfuscation":"aFbD","object":"chat.completion.chunk","system_fingerprint":"fp_f97eff32c5","usage":{"completion_tokens":10,"completion_tokens_details":{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0},"prompt_tokens":9,"prompt_tokens_details":{"audio_tokens":0,"cached_tokens":0},"total_tokens":19}}

data: [DONE]

"""

# pydantic-ai cassette (MIT): the two text-embedding-3-small vectors (base64 of
# little-endian float32, 1536 dimensions each).
EMBEDDING_MODEL = "text-embedding-3-small"
EMBEDDING_VECTORS_BASE64 = (
    "PsaJPMCKZL2lgLk7Q5yHPWZPEjw/zEG9gtPmvFtNej3YERK7eSEzvYFWITxeFwi9hqZIvFnW7LyO4W48OoVuPcFsj72Qwxk9lRAlPMobJz1eF4g9BuglPOBMuLsG68E80GiyPFhcQzxONp67hxeePMJyxzws94S9JTYIPQCeNr0D/aY8gVahu3sMMjy/FnO8hTLXvP04Dj3HuRo77FQIvXVLtbzILQy8JFRdPd3txzxTD7i4iZd/PKQJrLzhvY27vB8EPQ2y9jwfft87yhiLvA0gMD1MSAM+riw1PU2/kLxI6RI9fIO/PDzeJjyKC/E739jGvBNtuzvp+DO8kq4YPN3qKzzP9EC86fUXu4FWITzbAkm8FN6QPF6sarrD6VQ9LuUfPI1nxbzg3v47NiBGvNW1Pb31Bry8R3UhvLII6zs7/Hu93HACO9a4WbzJpBm9ujchvQs4zTu/gZC99JJKOw4m6Lss+qC8kMxtvB91Cz0pmzC7pvpivL+ErDyXjWo7zAYmvLuxSru3SYY9mXKxPEvdZT2DRDy9cl2aPHkhM7zxLaI8Se9KPYFc2TwNI8w7pYbxvI7h7jwdjai9FVg6vQlQ6rzKHsO8eKqlPHLyfD1PP3I9/rK3vVnW7DsJTU69XaayuwQD37w2Jn48p2UAvVwvpb2a7/Y7x8Luu+LG4TzWKS+9WFzDOf6477dV+rY8RKj3u5DGtbppQEm9t0mGPAlQar2O2Jq7aMzXvIp2jjv8xzg9FsyrvBm9YjzR2Qe9O2cZvLGICb2y/5a8s3xcPU4zAr1OOTq8UgmAPCTCFj2sR269TcjkO26HnLwLOM28vxZzPffrAr3ZhYO8c9GLPAP9Jj3Yo1g8v4GQvLk0Bb1Z0DS9KaFoPAGkbjzYoDw9hxq6vAbopTwHXJe8VIbFPFEnVb0had67IO80uwKJNTwv7vM86H6KvNqIn70lOaS6pXqBPNx2uj3/Iw07bwTivHbI+rxj7QW82RQuuMgzxLw2Hao7R3IFPQ8IE70haV49Aok1PbbVlDwI3Pg7ttgwvWJ8sD1OObq80GtOu1ZrjDp4p4k8OA7hvH30FD3LkjS86fvPvODefrqkDEg7xdE3PYagED1Ie9m8xGN+PexUiLxkZJO6IO80PS135rw1r3C94EaAPeI3NzsWyQ89ZGpLvLnDL73JpBk95B+aPTgIqTzai7s8fH2HvH5ohjuc0aG88xWFPImXf7zu1Ok8Nh0qPXNjUrxI6RK9MriBPN/VKj0rhq88gV/1vKlTmzkOkYU7lQ2Jvd5hubrf0g47JMKWPIS7yTxCKJY7bwHGO6nlYb0/0nk7epUkO6IkZTweARo9ZlKuPEBDT70+xok8tOoVO72f5bqbXbA8SOkSvMRgYr2TKMK8JFRdvFfimTszxPG88CoGvXc5UL2xlHk6yhgLPPzNcLwnIYc8nNEhPDK4gbzwuTA94VLwu9Q+ML3SU7E7kTeLPBqiqbuiHi09Vnf8PKV6gb3nE207sZHdO7TtMbsXRlW9v4fIPA+a2Tx010O9laLrPN5n8TwLOM08MkesO26EgDxcL6W8uMCTvGlD5Tx7CRY90lAVvLnDrzwAnja9BAZ7PXByGzw94cI7hLitvDJKyLw1qTg9hqbIOsJyR7wMrL48fH2HvF2jFr3f2+I8NaxUPR94p7pRmCq9pXoBvVKbxjyIIHI7cekoPNHi27xNyGQ808QGvadruLtdoxa8jWSpvFhWCzp+aAY9sB1su72WEb1/dPa82RdKuy7ig71j8CE8HBk3uywAWT0QfIQ7wPgdve5CozzTxAa9FVvWPPKhE7xBuly9HY2ovNJTsTtUiWG8gOjnu8XX7zzXmoS8rEfuu7NziDveZ3G6CNAIPffxOrzjOlO8dsj6uzgLRb2FNXM9hxq6vEh4vbzP91w9Rv4TvSFgirzIM0Q8V+IZvce/Uj1TFXA9+t9VvZ/CWLxifLA8fmgGPen4M7taRCa8K4MTPTWpuDyDSnS9oiHJPImX/zum8Y67SOkSPfAqhjxL3WU9T7DHPAs7abuDPgS9cXvvPIn/gLzjqAw8tOqVvM0JwrxtEI+8HY2oPQRxGLzXnSA9ffcwveG9DTwaNHC8LAP1PEBAM7xsotW80lOxvBsWmzxWdGC99+6ePN/VqrvJpJm8LXGuvBwZt7zUPrA6fmgGPeLG4bxrK8g8hSwfvWRqSz0pmBQ9cHW3u5zOhbxYWSe8o5vyvMobJzzyqme8gOXLPJzOBbziNBu8o5U6PZ3a9bws/Tw9Up5iPYS1Eb0ns0081iaTvVEnVb30ksq7L1kRvK4sNTxl2IS88qdLOkUc6TrbBeU8H3inuT/Mwbsg7zS88x5ZvE4zgrynblS9Gb3iOSDvNLxEFjG8g0p0ugGkbjo686e8Seyuu4caurznCpk8eSdrO0pgILvVsqE8bRljvHJdGrussgs8zQzeOt/VqjuXh7K89JJKPGlAST0BD4w8SewuvbTtsbzzGKG8GjHUvE2/EL3EY/488S0iPV6saj1YXEO8gVahvKb3xrpmUi64CruHuyezzbrd6qu8CUoyuxGCPDsMqaK8dzlQPaQPZLzNepc9oKcfPFnNmDtx7ES9cu/gusCKZDykDEg9ardWPVu4l7x6lSS9xkKNvOn+a7rXmoS6FVUevXNjUr2Gpsi8sv+WvESod7zxNnY7xddvPc7uiLzxLaK8S93lunknazyiHq286fUXPMPmuDzYoLy8WFknvSDvNL1TDzi8R3IFvKQGkDyRQF+839IOveac3zxeFwg9Gp+Nu3c8bLweB9I74E/UO86Az7xFh4a94cPFukYBsDyij4I8AhjgvKb0KrxhC9u6DKaGOuOoDDyDQaA8QisyvDQ4YzyfxfS88LmwPEnsrjyiHq27LuUfvLnDr7ya7No8NhoOPRfVf7u+CgM9LADZPINH2Lo7arW82wVlPL+ELLzEWqo7/yMNvLN2JLxrKKy8L1wtPJDJ0TxozNe8FswrPK+dCj2wGlA65xNtuwjQCD01qbg7SfJmvBNqH73QZRa9Aok1vPlrZDqfMy69if8AvQlNzjwQDsu8vChYu/8mKT0tca48pAxIO+7Rzbz51gG9YJfpvF4apLx/dPa8g0EgPP04jjvbBeU808SGPAQG+zwBFUQ81a8Fu0pjvDxkbec7U4ANPCFmQrx3OVA7vxbzvAysPrzlJVK7fmgGPIp5Krw69sM8xGN+vQ+d9TxKZti8USfVO8wGprp++ky7rLILvcLjnLym+uI8NazUO9qIH713OdC8R3IFPXkhMzxweFM80GtOO1nW7LsEAEO96IfevO3OsTxX6FE9EA5LPRB8hDxj8CG8SmO8u7o6Pb0+xgk8x8LuPFtNejxKYKA8Qi5OvcwDCr0U3pC8bJydPMgwqLuO2Jo8mXIxvSDsmDyGqWS7LP08PMXRN7xmVco8fICjPCgt9zt6laQ8sgIzvPSPrruZdU08iJHHvMfC7roPCJO8I0uJPNxzHjw1rFS98L/ouw2y9jrKHsO7EYh0PIcXHjzVRGi8zAOKvBL2LTpproI8+dYBPGEIPzvuP4c73fDju1Z3fLwEcZg8sZR5PZzX2bw3l1M9PlU0O2/+qTvIMCi9sv8WvNPEBr0OkYW8IOyYPPfrAr0NHZQ6qeXhu3x9Bz26QHU939jGO6bxjrx++sw83mRVvF013btARms7ujehu8ZFqTuXik68+tw5PUG3QDqBWb08I04lvZf4hzwcigy9XC+lvG6EADwI0Ag8yaQZO2ylcbyGo6w8CVBqPH5oBj2wGtC8yh7DPFnW7Lz8xJy8OX+2POn4Mz19hts7hqZIvfMeWTytuMO8kMMZvX/fk7yPTAy9r6ZevLGUeTgmPEC9QENPvGmugrsS/OU8vChYPGPwIToWyQ+8xkthPINEvDySsbQ8PHDtuDO+Ob0LO+m8KhXavFSGRb15Hhc85plDPFfiGTyCza65tOqVO0BAs7sRgjw8nUivPBhJcbwfdQs8SOkSvP0+RjyIjiu7Q6K/PCoMBrz5aEi9yae1PBGIdDzsWsA8sZT5PDWjAD27qxI9ZdiEvG6HnDxujVS7j0wMvOxXJL2RNwu8RBOVvJeN6jsAodI8bRz/vBkuuLtTElQ7IWOmPFIJgLzFzhu8Tb+QuPnZHb0U3hA9epKIPL4QuzwD/aY8Tjm6u+ac37uWhBa9ZeFYvD/JpTz7WX88riy1vKCkA7ya6b680dkHu2q68rxwcps8r50KPe1g+DsfeCe9kyWmOmfDg7pJ78q8f24+POOrKD1Dpdu7RwTMuffrAr01owC9lhl5OxNqH7yKeSq8CzUxOxAOyzyjmNa87FekPEIxars2IEa9tWEjPL+ErLzXL2c8YJdpPLNzCD0Am5o8gtBKu8Ps8LzLkrQ6F9X/PKQGEDzC4IA7ZeHYuh94J73/Jik8LW4SvaGt17y3TCK81y/nO/E29jwKvqO6muOGvE3I5LzSU7G8LXGuOvfrAr26QPU8c9ELOkpp9DvZF8o8o5jWu0pp9LznENG88Tb2O8gtjLzxNna8+1NHPaxEUrwAodK5Q5wHPMshX726QPU7+GIQPFIMnLwChhm9oiFJPfKnyzxfjpU6JcjOPFzB67xRlQ49WkSmvB4EtjvGQg09LPogPIn/ALq06pW8wW8rven1Fz2A5Us9bRMrvUOchzyiIcm86fWXvHW8Cj2tuEO8VQBvvJYZebwu61c8rimZueBGADs7/Ps7H3invE3I5Dwfe8M5vB+EOqA2SjzgSRy9f3FaPCLaMzxSDBy9Jq2VPO5Co7pkZ6+7NiPivDrzJ7x4sF28/MrUu5E9wzqna7g8yhgLPLGRXbyTIoo8kUBfvKWDVbzf1Sq9S9ctPKnofTyvpt47gOKvPKjixbxgAoc81a8FPX76zDy5xku8cHhTvBB8BLzf22I89JLKO859M7x7D8684jc3Pd5n8boOJmg7I+DrvF2jFj34ZSy8AKHSPF6pTj0qDyK6yhiLO4ajrDwWyY+8+1l/Oi9cLTu/gZA8t0kGPTrwizyKeSo8eR4XPS9crboF5Qk8A/qKPHLv4Lx6m1w7E3DXPCmbsDwMr1o8xGN+vD/JJb32DPQ8TE67vMRdRjxglM087c4xvDBfSbzA+J28yarRvBfV/zoU5Eg8/T5GPAs1sbwlNog8ujchPT5Y0Ly3SYa86Ip6PC1ukrvMAwo97FrAvKdu1Duy/5Y8b/sNPeaWp7zF1+88N5GbPDYaDj0kxTK8XTVdu51IrzyEtZE8zXoXPbGLpbxL2sk83fBjPEWHhrxNv5C8ttUUvFnTUDyCzS69TjMCvab3xjwLO2k8w1eOPBm9YjzR2Qe9XyP4PFOADTsOkQU8MriBO9eaBD351oE8wPs5PEh4Pbp4pwk9ARVEvGZPkjv+sjc8CNOkPAdlazx1UW09N5fTPJMlpryHFII8boSAPKjcDbx/bj48+8GAu20WRzvjqAy97tHNPOh+ijzqaYk84cApPU4zgrqkCSw9l4pOvHW8Cj2gpIO8cezEPBkrHLyO3lK9VInhu7wioLttFke8GSucvLTwzbziNJu84N7+vJ65BD1igmg8H4H7OxVVHj2c0SG8t0kGOxbJD7xgkbG79ncRO3sPzjwVXvI8AQ8MurhSWjwQf6C8hLWRPCNLCb1FHGk8epWkvB2T4LwdkMQ3DpEFvXHmjLt7CZY8epWku0pjvDvaiB88ujchu9WyoTvp+LM8g0r0Owdcl7xmTxI8OA5hvExU87irPho8U4ANPF2jlju3SQY9VIOpvOSuxLyLf2I82/+sO3Lv4Lx9hts8Z8ODPBJnA7yMYY08T6qPvMyY7LtFiiK9vhA7PCLXlzw0NUc9epIIPdWyobqc0aG8f24+PN/SjjyWE8E6/T7Gu4FWobxxe2+7KgwGvBulRbveXp08tfPpPNBoMrxZ1my846uovAysvjxCMWq8sBpQveiEwrxSof47muMGvQV6bDuuLLW88qfLPBfV/zvgT1S7oRuRPNHcIz05f7a8QbEIvSFp3jzuQqM8nM4FvILKEru5NAW9cl2auvfrAj2gNkq8krG0vCLXl7w7Zxk9yaQZPQEPDL2eTmc8a5mBvPnZnbzILYw8TEgDvffrAj7UQcy84Ew4vda42Tuvo0I8LAP1uwsyFbq4Uto68CoGOxdAHbx6kgi8NDhjvFKe4rw6hW66w+nUu51Lyzwaoqk8oo8CvOcQ0bvktHy8sY7BumCXabyDR9g7y5I0O621pzuyCOu8UgycvFnT0LvtXdw89QMgu9csyzsHYs887j8HPTWjALwMr1o8GjTwu6V9nbzSU7G8N5fTO2olkLswX0k8WF/fu4p5qjxUiWG8DpShPHkkz7tARus7t95oO9eahLyGpkg77csVvGCRMT3Tyj48Evzluz/MwTzuQiO7N5EbuxJnAz1Z1mw9MUSQukjpkjoLOM07jPbvPJWfzzzNDF488CoGPEvaSbzGSEU9ttWUvLhPvrtj8KE8ujo9vMPmuDpx7MQ6fIM/OyuDEzxz1Ce83HOePP0+xrzty5U7rLKLugjc+DtV+jY9YJdpPHkkzzssAFk8vZmtO1wyQTum9Cq8bo1UuiLaMzwjUcE7YJExPPSPrrzgT1Q8CzvpPGZVSr25xss8Tb8QO8NXjjuLfMa8hLURuwlKsjuLf2I8N5GbvBNqn7xWaww9SH51u9/SDr1weNO8ZeHYu568oLwVUoK8DpShPKs+mjsrgxO9Fs/HOwdcl7sS/OU7jtiaO9RBzDyIIPI8pAksu2ACB725yec8pX2dvK21pzw3l9M87FQIPZ1Ly7w+xgm8iQIdvEjpEjxeGqQ7AKFSutqLuzwhZkI8SmAgvVAhHTzYo1g72BGSvNBu6ryFKYO88S0iPNxwgjxcMkE8JchOPLN8XDzNepe8uj3ZvNBlFr0rg5O8uFJaPPhlLLyxlHk8zJjsO4z277znEFE8Lui7PIUpAzzvSFu7m2PovBVe8rxcweu7H3inO5j7ozwWzCs8TEsfPOS0fLyCza67qOJFPVnT0Lyd2vU7VIbFO+aWJz18gKM7xkhFvDWmnDxcwWs8aM/zuwrBP72ttSe9b/sNPLbVlLtZ1uy8ew/OPG0c/zpproK72wVlvOcKmToeB1K82BGSutWyIT0qEr67fICjvOppibxSof68IPJQvQdfszwlNoi8/yapvIS7ybtMUVc7UZUOPfnZHT39Psa8GElxu04zgjvKGIs7RYqiuz/S+TtdoxY82KPYvBVe8rr1Bjw95pnDPGq3VjzR3z89zAamPODe/rqRNwu6CNAIveppCTwoJKO8bRnjueSuxDx1vIq8+GWsvL4QO7ylfZ085pxfPf8mqbpukHA7tO2xPARxmLshYIo8i+0bvRc9gTzOfTO7v4dIu9BllrvccIK8V+hRvD/SebzlJVK7xdTTPGCUTT2FL7u78qETPFu7Mzx/dPa7QbEIPRi0jrzcfPK8It3Pu8fC7rwTah+7hLURvBkoAD2o36k7yTl8O5f4BzyMYY08pAaQvFKbRjzSU7G8eKeJu04zAj0ZLrg7XaayOjtnGbwtd2a7XaMWvSoSPjw0Lw88wWwPPZUNiTtukPC7sZT5O5lvFbujm3K6qeh9PPvBALw+W2y7UZiqu26EALp6lSQ99QnYPNQ+MDu7tGa81rv1PDmCUjwJRxa7H4F7O7dJhjyDPoQ8IWCKOy9ZEbxCKzI4W036un/fEzskxbK8oDnmPJ1Ir7ujlTo7hxcePdJQlbz8x7g8+k0PPMk5fLkdjai88TPaOxbMqzpeF4i8ighVvJzXWTzxLSK8YAIHPcRdxjuxkV09F0AdPfj3cjzP9EC73HlWvLwr9LzB/lU7SmCguxHzkbyJ/4A9VnHEuwbu3Ts7/Hu7zoNrPHRIGbvlkws92BESPJScMztI6RK9eKolPeS0/LwI0Ii7B2JPvCNLibuzdiQ9ZdgEvfZ9STvXLMs8wPgdvCNLiTylhnE9YQWjvFGVDjxZ1uy71rv1vG6EAL2Y+6M7T6qPPH/fE72p6H08V+W1vArEW7tWcUS8aM/zvFX9UjwoJz+8igtxPftTx7z0jBI8+k2Pu6pc7zwS+ck7nM4FvCmh6LsfgXu92ou7O+BGALyKCNU8zn0zPAymhrzOfbM6BANfOEWHBr2Qw5k7H3tDPAdiTzya7No74jc3vIUpg7w0L4+8",
    "x4stvI1xE73anvc8CAvlPdkX9LxcnZy8EX4kvNgXDz175TG9LCMovM93Trznh8c7yGyzvNUoAr2joAY8b4NlPVo1E70KRgg9oTjiPDz7BDvXNgm8bUjdPA68GL0zW0Q8VhmFu73rh7zz6ZM7jUQSPafpFblcnZy4oIRdPb9TEb2tbS09URzWvKKS5Dx0Bxg83H99PRcCvLu2WU47jBcRO0FE+bxWGQW9/uM7O5zhSz1N08Y8yBIxPayMp73YkIu8/KizPTmy2jxtG9w7fcY3u++/Yzy0S0c8p7z5PPkTqTuoFvw7u92APc3iQ7tPh0s7F9W6us0PxTwX1To8oCrbu9VVAz09KIa8or9lO+UfvrqKVeq6RyIuPXQmd7x2uxw9WM3uvOrvUD1cyp088M0FvS2qK73xJ+08Y9U4PVj677yocJm85gDEPP7jO71X+oo8cRiLPJotRzzsV9q7jL2OPMV9pjx9xje738invLACOLwv5TO7zvBKPbIQvztycnI8DYH1vL7r7DyvezQ9KhUhPbHjvTwhdeC8p7x5PAxUdDw7dIE8KWEcPXPM9Dt2Yf+7QUT5vArsarwyer69169qvDJ6Pr0UE6+6Hg1XvEkwtbsorZc9CThmve9GAj0EO1I8fwFAvAHTyLtIfDA85gDEvAllZzymCPU8U9Bau4YM2zuNcRO99Z0Yvb4YbjsUQDA6nhxUvIga4rw9VQe9V80JPXRTeL3c2f88FvS0vXP5ED0kZG08JRiNOYKWyjypcH47DxYbPac1dryuxy+98M3qPCLPYrzlTD87QiX/vCUYjTtGyKu81SiCPV+MKby+62y8qJ0aPFYZhTzsKtm8DYH1uhtLS7xWv2e8ePakvGXjv7xje7a8TXlEPF+MKb0Kcwm9DPpxvd5BJL175TG9fqc9PKZikryjzQc8IvxjvIs28DwuMS890t/XvD9jc72LkI08aHhKPb2+Bj1fMie8gvDMvAyukTuHwF887FdaPX3zOLzW3IY8kDOfPFbsA70Ojxc98YGKPScmFD3ZF/Q82GPvvCafEDr5E6k8zLXCPG+D5TxoS8k8bwoEPOTFOzzc2f+8MGy3O1Te4btv3QK9arPSPDyhgj3YkIu8RbokPXQmd7wxTb28gsPLOwm/BDxltj69m7RKPAm/hDzacXa7PlVsuSPdhDzyYpA9WIGOPUoRuzx75TG9I90EPNsl+7wcpc07jlIZO8ogODtxGAs8WmIUPAhlAr1qhlG90gxZvPltq7wk64u7IvzjvNrLkzuM6o+8dmH/vNqe9zsWTje8zsNJPYY53Lv5QCo8ckVxuwmSaDzBB5a8DIEQPQ5iljxGyKs7BUnZvHyZNrzH5a89G0tLu4s2izxu/OE8dAcYPX3GtzvZvXG9v8wNvASV1DsLzYu8PHTmvJUDsryOUhm9cDfqvGATLT1RwlO9URxWu2YQwbwgG145AB9Evb5yC72WijW8ejEtPLJqQT10Jne73Nl/vHYVnzz2fh48W0OavHuLL7sMJ/O8dWGavJgfwDymNRE8wQcWPBzSzrwbS8s8Y6g3u6IZAz1WGYU8mB/AO2s6Vrz2qx88PKFnvGRcvLyo6fq7el6uPTDGOb0kN2w8jZ4UPb9TEb21LM09DmIWPaVU8Do7wOE8TgDIOz9j87vZRJC8kDMfPfiMJT2xtry8KhUhvUq3OL1Gbik9rUCsvMNvH7w8R+U85y3FO2tn1zm9kWo7QfgYPLXSyrxaYpQ8QUT5PKJGhLo28M68CAsAveM+uDxCJX88AQBKPQF5xjxjqLe8c/n1PFJ22DxK5Dm9+IwlvfZRnbzkxTu973MDvNFY1DrYkPC8J1MVPfGBCj1fXyi82ssTPUVBqDzH5S+8DCfzPEBEFL3wzYU8CZKDvEC9db2T9ao8D498PCcmlLym23M8LCOovCpCorxCy3y7Jp+QO7ACuLxGmyo8CkaIvVfNCb0iVoE9HuDVvA+8/bzYvYy8b7CBvF9fKDx0gHm7rW0tPNWhYzwjNwc9cJEHvUUUJ7y7CgI96cJPPQAfxLoryaW9vnILPJGNIT13QqC83m6lPIoJCr08oYK9DmJ7PUBElLwbS8s83/WovAKHTbz7ITC9ReclPU3TRj2Yxb280KRPPKe8+Ty2s9C8vb4GvWyUWDy1pUk7pPqIPKRUi72/cnC8pCeKvApzCb3gqa28779jvQ/pGT1XzYk9qHCZO8gSMT11B/282JALvURgIjxFFCe6PtyKu9t/GD16BCy7HVnSPMhsszwWTrc83Kx+O72+a73cMx0826wZvahDGDzvGWa8iaFlvIn7gruJoeW83kEkvICIQzwj3YS81c5kPXJF8Ty/zI28f9S+vE/hTTxoeEq78YEKvYYMWzxfMie7JsyRPJAGHjm96we9jviWPUIlGr1F5yU821KXvFigbTuIGmI8ue5YPP0vNz17iy88d8kju71k6TvbJXu9QcuXvOV5QDxhQC49CycOvRRAMDxXzYk8ycY1vYZmXbwkZIi84TAxPSvJJTyqqyE9wTSXPKCx3jxUseA7N6RTuygHmjwlcg+9V0brvEL4/britzS8u1bivP22urxdJCA8zQ/FvAsnDjzYY++8PSgGvdX7gDn8ArY8bvxhPVfNibwOCPk7CAvluylhHL2Xa7u8Vr/nvHvlMbwOYns769DWOpAzn72j7Ga8UqPZO9XOZDyJgga9c4CUvOvQ1jov5TM9Src4vVRXXjxOLUm8D0OcvE5ayrwK7Gq8eaopO0Il/zsuMa+8cswPvdIM2TzXCW08TXnEO0PZnjrEI6Q6bwoEPRylzbyMvQ68xaqnOnNTkzzxrgu8ZAI6PF9fqDupnf86hmZdO3G+7TnKTTk9vkUKvZMiLD2mCHU8dY6bPOnCTzybh0m8OgxdvEFxFTzv7OQ821L8uj/c7zzHXqy7V6CIO4DiRTv3MiO9eFCnOxeoubxZ2xA9TXnEu6Qnirum23O8CWVnvDDGObxfX6i8p7yUuw9DnDrxVO6866NVvPshMD0c0s68h+1gPMEHFr2TIqy7PM6DuzNbxDwF79a7y9S8vOocUrs5sto7pmKSPFegiDxs7lq6KDSbu2WJvbzgqa07sbY8vahDmLxW7Gi8dhWfPNwGHD1HIi69IO5cvJc+Oj3ZvfG7VWUAu/X3GjtJXba8mi1HuXXa+7yGZl08M1vEunRTeL09KGs83NmavMhss7tCnvs8ne/Su8TJITxzUxO9izaLvA/pmbyrMqU6EjKpPL/MjTw7dAG8EVGjvAdX4Dzvc4O8QBeTPFj6b7xXoIg82DbuPJRPLTtxGIu92Rf0vHDd5zy+Re88fca3PA6Plzy7KWG9C/qMPHJycjzayxO7Dgj5u4kohDw/Y466p2J3POxX2ro/CfG7b7ABvRgvvTutE6u7P2NzvD0oBj3yrvA7qXB+vGGaML2onRo8Pa8JvBb0tDzgIio7PftpPBiJPzurX6Y8zQ/FPJzhy7xNpsW8j38au4wXET0PcB29uvxfvHdvobxB+Bi9Byrfu/XKGT2m2/O8X4wpvf9qPzwmn5A7UGhRPLc61Dw+3Iq8opLkPEDq9jwA8sI82p73PFZGBj29N2g9R0+vu6JGhLsaPUS9MU29u+UfPry4Z9W8iVWFPEVBqLw2w8081XTiOwItSzwMJ/M8oLFePEldtjmu9DA8FvQ0vYqvhzt3b6E6cAppPdpEdTxCf5w721IXPb5F7zy7VmK9m4fJvN3noTwJkoM876CEvdc2Cb0Lc+682yX7u5GNoTywLzk8NsPNPKhwGbzzvJI7fD+0udD+Ub2bh0k8XSSgO/Rwlzwj3QQ82yX7vLqiXTzFqqc7wxWdvEEXeDyHk9455Gu5vKNzartccBu8C6BvPHoELLurX6a8TExDO5drO7xBcRW8VuzoPGily7yedla80SvTPIqvh7y1LM288M1qu6YIdTypypu7Hf/PO2qG0bx1YRq8xgQqPLsKgjyonRo8km6nvIC1xLxB+Bg9Fk63vEoROzzvoAQ8SNayPDuT4LyG31m9C3NuvFaSZrzWgmm8v8wNvDQPyTzhMDE9CGUCPDJ6vjxDrB28R/WsvHRT+Lzy24w7rIwnvILwzLwlRQ68luS3PF8ypzw+CQw7O0eAOjmFWTwRUSO9ouyBPJMiLL3acXY8fD80PXpeLr3X3Gu94CKqPCwjKDxMTMO8dFP4PHXa+7yVMLM4ddr7O6cWF7vZF3S8LxI1vV0kIDy7CgI6/S+3PEf1rDwjg2e9779jvNusGbulVHC7+UCqPKOghjy96wc88mIQvFhUjbwLoIq8cnLyPCMKBr0vP7a8DFSPvNsl+zzcrH47po8TvH0gujqmrvK8Jb7vu9x//Tsiz2I8ShE7PAMO0TvSDFm8WIEOPYgaYjuvTjM9aEtJvC0ErrwK7Gq8PYIIPfCg6bttot88ifuCvGsNVbsW9DS8EgWoPF7YJDsoB5q87CrZvD+9EDzDQp68BDvSOurv0DsmzJG7igmKvLZZTjygV9y8MGy3PCQ3bL0ui7G8bwoEPQix4rzfyKe8ceuJPH8uwbwSMqm7QRf4u8CAkrxtdd48MJk4O6Un77uo6Xq8eX0ovIzqDz3c2f+7vb7rOj6v7rxPh8s7Da72PL2+hjwQnZ48UypdPT8J8Ty/zI28SNYyOiEpALuJoWU9p2L3vBcCvDyLCe+8h+1gvT0ohjzYNm46+eYnPflAqrtCUhu9nOFLOkmKt7wZ48E83bogvejhST2mCJC8jviWOz5V7LvV+4C8NLXGPD1Vh71Bcfq8pYEMvK+otbzacXY8GRDDvNnq8jtwN2o8DIEQPYqvh7zcYJ48kDMfPR3/TzxxZGs8yfO2vLjB1zzduqC8ne9SPKRUizvGBCo9tEvHOzvt4jxzzHS7D3CdO6WuDTyJVQW90NFQvE4ASDxNpkU8bs9gPJa3NjouXjC8TMU/PWceyDwgwdu7Q6ydPFhUjTy8sGQ8Pa8JPfIIjjwONXo8lTCzO6e8FDszLsM8kY2hPLHjvTyj7OY7NZbMuvXKGTyIR+M78PqGvJa3tryLkA09nZXQvMhss7rFUKU8YsexPCwjKD1YgQ69PShrO8NvH7vE9iI9pdsOvUQzoTx75bE82L0MPApGiDwSBai8pa6NvHQm97xefiK8URzWu+rvULzc2X89JOuLPHU0/rwNCBQ7QwYgPeCpLTxWv+e8lxG5O1Te4TyiGQM8pPptPFHC07xmPUI7W0OaPSUYDbsxTT29tHjIvGJOtTzWVeg8hCvVPEFxlbzpaE28drucPKQnCrx26B28zpZIO5jFPbwPcB09O3SBvJ5JVb2+cgs8D4/8OqnKm7y8ZAS9Mqc/vKSga7vFfSa8l2s7O7fgUTyM6o+84QOwPJTWsDx7uLA8q18mu72R6rzebiU8qBb8vHA3Bb2VXTQ7+LmmvND+UbwD4U+1cJEHO0DqkbvgT6u8OgzdvAix4jym23M7T7RMvBhcPju9ZOk8DIGQPMflLzrcrP48qn4gvF8ypzohSN88hmZdvGaXRDyjzYe9VLHgvHfJI7sNNZU7VuzoO1gnjDoj3QQ8cDdqPNzZGj20HkY8DjX6PIoJCjwS2Ka8R0+vvCoVIbtA6na8cesJvOvQ1rzH5S+7lre2PMCtE7ykVAs8sNW2vG+wgbxB+Bi97pJiPO3e3bxJirc8ohkDPVydnLwNgfW7KNoYu/Z+Hj2c4cs8qOl6PHBkBr22s1A8qZ1/vOKKszsIZYI6C/qMvI/ZHD1oeEo8JUWOPH0gurxUV149/hC9PLPxRL0lvu+73AacO3j2JL02w807ht9ZulpilLyVXTQ8egSsPLZZTrtnxMW8Qst8OxCdHj3J8zY96ZXOO4Zm3bw5hdm821L8Oz4JDDyQBp66Qvj9vB9nWb2caE+7smpBO9X7AL01acs8oLFevAxUD7qHwN87yBIxu3bonTx98zi8bs/gvPQWFby7g+O8nGhPvGlZ0LlQldK8pYFxPJBgoDyo6fq7QwYgPV+MqTzuOGC80SvTvLhn1TyJ++c6b7ABPDvAYT1VkoE8oTjiPL9ycDy8sGS9QRd4vC4xLzoZEEM9JyYUPNaChDy/zI27boMAveTyPLzq79A86DvMvD0oBj54I6a8jZ4UvNzZmjs+Ng27azpWPEs+PLsisAO8s/HEO1ZGhrxugwC9iSiEvH8BQLsJ7AW9F9W6vClhHDyMvQ49dID5vJl5wjxX+gq8Vr9nOwUc2LwRUaM8pgiQO1fNCTxtot+7oTjivEkwNb2joIY8izbwu6Y1ETykVIu7mJg8vBCdHruJKIQ8bwoEPDyhAr3xVO68K5wkvHCRBz2mCHU8tzrUvNXO5DzhA7C80YVVvE2mxTsN23c8VkaGvHhQp7y3OtQ8V6CIOjBsN7qP2Rw9YvSyPFbsgzpg5iu9WmKUvF33njxOLUk9zFvAvGQvu7zhMLE8/uM7vCm7HrszLkM8+3syvaMZ6Lwkvgq8pjWRvO5l4Tw1aUu8N3fSvM8dzDwMJ3O8SYo3vFHvVLxiIbQ8u90AvQajW71b6Zc7m1pIO4DixTwCh008LosxPXWOmzuYxT293hQjve9zAzw5hdm8D3CdvPRDlrw/Y3M8duidPN4UIz1vCoS6QcsXPW784bvVVYO7BqPbPLc6VDt1rXo7qzIlPP1cuLgIZQI9V0ZrPMCAEr0TjKs8dID5vFEc1ryonZq8bMFZPD0ohjwj3QQ9QXH6u//EQT0MVA+9Y3u2vMnGNbwxTb07VITfuwgLZTrbJfu8f9Q+vOdaxrs77WK8jBcRvKY1EbzfyKe7wo4ZPLw3g7xwNwU9lE8tPB9n2TvjETe85Ji6vO8Z5jw6DF28+ROpvD8JcTwig4I8DjV6vA/p/rvEySE8KNoYu0W6pDvxgYq8LjGvPL/5Dj3Pd847x4utugyBkLzx+ms4vJGFvEPZHrwOYhY9dmF/vEabKrylJ2+8jvgWvO5l4bvW+2U82Z6SPDEgvLuq2KI6aw1VPHPMdDwt16y8lE+tux3/z7wmzJG7wQeWPLcNU7x7ErO7hNHSOyb5kjs9zmg7fGy1vNqe9zzFqie8JXKPPGFALryvqLW8DTWVvO0L3zvgIio8QfgYPDnf27qKCQq8d28hvL3rB71VOOQ8O3QBvHu4sDxeq6M7EqulvNb75boYLz26yk05vU/hzbxp0sy7DIGQvMCtk7wMrpG8pCcKPOg7TLwiVgE9ht/ZO9NmWz35bas8o6CGvHLMjzwNgXW8zIjBPB0s0Tyc4cu7g0rPu6qrITx4UCc9My5DvSQKazwOj5e7p7x5vYOkUTwg7ly9PM4DvUL4/Tmn6RW7tB5GvM7DybqkVAu92JDwOy8/Njzo4ck8MGw3vLACuDx0U/g8Qsv8vEHLF7yjzQe8/5fAPNVVA7vpws88KAeauxZ7OLz5Eyk9B/3dPHFFjDzRWNQ8V/oKPaCx3jwjCoY8Zj3CO5UwM7yLNgu8sAK4O55J1TuCw0s7ReelvPLbDLx2u5w8PShruwm/hDyDpNE8ZmpDvHTaljyBPMi81VWDvO9zAz0RJKK8W0OaPDS1RrxzzHS8dTSZvC5esDyH7eC8IzcHPbRLRzwSq6U5zIjBPAzNcDzVzmS99zKjvOmVTrzCjhk6lKkvPBLYJr1Xc+w72/j5PCSRiTwisIM8ShG7PFdz7Dtz+fW5u92AuuBPKz1iIbQ7vZHqOuV5QLyXPjo79EOWu42elDo/Y3O8DQgUu7RLx7z2q588cp8Ovdv4eTwMJ/M8PSjruzxHZTwvEjU8NsNNvIy9jryXEbk7IBvePOHWLrxGmyo9ic7mPDWWTDwkZG08FW0xOzNbxDwlRY68qfecOwixYr09KAY8IaLhuj0oBjxWv+c8MSC8vM3iwzxv3YI82OqNPLI9wLxEM6G7Rsgrvd+bJjw8dOa8duidvFW/grysjKc8dK0VvSKDArzQ/lE9WFQNPH8BQDyjoAY9+UCqu1BoUTwngJY8XfeevNpEdbsuizG9duidu5RPLTtYgQ68LPamu6QnCrxW7AO92viUvL5yC7xwvgg9j9kcPMhsM7xfMie7gWlJPIga4jxAFxO876AEPL9y8DvdjR886A5LvGzBWblHIq67DmIWPT9jjju/+Y48Jb5vvEJ/nLt6Ma08xjGrOxLYprygsV68FBOvOyJWAT2o6Xo8lxE5PJuHSTxtot+7",
)
