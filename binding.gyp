# Source build for installs without a prebuilt binary (node-gyp). The file
# lists come from native/sources.json, the same list CMakeLists.txt reads, so
# the two builds cannot drift apart. Only the kernels_avx2 and
# kernels_avx512vnni files get ISA flags, each group its own; the dispatch
# table calls them only on a CPU that has AVX2 and FMA (and AVX-512 VNNI, VL
# and BW for the second). On arm64
# the kernels_neon files join the addon's sources: NEON is baseline there; the
# kernels_neon_i8mm and kernels_neon_bf16 files get -march=armv8.2-a+i8mm /
# +bf16, each group its own (the table runs them when HWCAP2 lists them).
{
  "target_defaults": {
    "include_dirs": ["native/src"],
    "cflags": ["-fPIC", "-fvisibility=hidden"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-fexceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "configurations": {
      "Release": {"cflags": ["-O3"], "cflags!": ["-O2", "-Os"]}
    },
    "xcode_settings": {
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "GCC_ENABLE_CPP_RTTI": "YES",
      "GCC_OPTIMIZATION_LEVEL": "3",
      "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
      "MACOSX_DEPLOYMENT_TARGET": "10.15"
    },
    "msvs_settings": {
      "VCCLCompilerTool": {
        "ExceptionHandling": 1,
        "AdditionalOptions": ["/std:c++17"]
      }
    },
    "conditions": [
      ["target_arch=='x64'", {"defines": ["CROSSRANK_HAVE_AVX2_KERNELS=1", "CROSSRANK_HAVE_AVX512_KERNELS=1",
                                          "CROSSRANK_HAVE_AVX512VNNI_KERNELS=1",
                                          "CROSSRANK_HAVE_AVX512BF16_KERNELS=1"]}],
      ["target_arch=='x64' and OS!='win'", {"defines": ["CROSSRANK_HAVE_AMX_KERNELS=1"]}],
      ["target_arch=='arm64'", {"defines": ["CROSSRANK_HAVE_NEON_KERNELS=1",
                                            "CROSSRANK_HAVE_NEON_I8MM_KERNELS=1",
                                            "CROSSRANK_HAVE_NEON_BF16_KERNELS=1"]}]
    ]
  },
  "targets": [
    {
      "target_name": "crossrank",
      "sources": [
        "<!@(node -p \"require('./native/sources.json').core.join(' ')\")",
        "<!@(node -p \"require('./native/sources.json').addon.join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "conditions": [
        ["target_arch=='x64'", {"dependencies": ["crossrank_kernels_avx2", "crossrank_kernels_avx512",
                                                 "crossrank_kernels_avx512vnni",
                                                 "crossrank_kernels_avx512bf16"]}],
        ["target_arch=='x64' and OS!='win'", {"dependencies": ["crossrank_kernels_amx"]}],
        ["target_arch=='arm64'", {
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_neon.join(' ')\")"],
          "dependencies": ["crossrank_kernels_neon_i8mm", "crossrank_kernels_neon_bf16"]
        }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "crossrank_kernels_avx2",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_avx2.join(' ')\")"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c"]},
          "msvs_settings": {"VCCLCompilerTool": {"EnableEnhancedInstructionSet": 5}}
        },
        {
          "target_name": "crossrank_kernels_avx512",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_avx512.join(' ')\")"],
          "cflags_cc": ["-mavx512f", "-mavx2", "-mfma", "-mf16c"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-mavx512f", "-mavx2", "-mfma", "-mf16c"]},
          "msvs_settings": {"VCCLCompilerTool": {"AdditionalOptions": ["/arch:AVX512"]}}
        },
        {
          "target_name": "crossrank_kernels_avx512vnni",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_avx512vnni.join(' ')\")"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512vl", "-mavx512bw",
                        "-mavx512vnni"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c", "-mavx512f",
                                                      "-mavx512vl", "-mavx512bw", "-mavx512vnni"]},
          "msvs_settings": {"VCCLCompilerTool": {"AdditionalOptions": ["/arch:AVX512"]}}
        },
        {
          "target_name": "crossrank_kernels_avx512bf16",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_avx512bf16.join(' ')\")"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512vl", "-mavx512bw",
                        "-mavx512bf16"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c", "-mavx512f",
                                                      "-mavx512vl", "-mavx512bw", "-mavx512bf16"]},
          "msvs_settings": {"VCCLCompilerTool": {"AdditionalOptions": ["/arch:AVX512"]}}
        }
      ]
    }],
    ["target_arch=='x64' and OS!='win'", {
      "targets": [
        {
          "target_name": "crossrank_kernels_amx",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_amx.join(' ')\")"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512vl", "-mavx512bw",
                        "-mavx512bf16", "-mavx512vnni", "-mamx-tile", "-mamx-bf16", "-mamx-int8"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c", "-mavx512f",
                                                      "-mavx512vl", "-mavx512bw", "-mavx512bf16",
                                                      "-mavx512vnni", "-mamx-tile", "-mamx-bf16",
                                                      "-mamx-int8"]}
        }
      ]
    }],
    ["target_arch=='arm64'", {
      "targets": [
        {
          "target_name": "crossrank_kernels_neon_i8mm",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_neon_i8mm.join(' ')\")"],
          "cflags_cc": ["-march=armv8.2-a+i8mm"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-march=armv8.2-a+i8mm"]}
        },
        {
          "target_name": "crossrank_kernels_neon_bf16",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./native/sources.json').kernels_neon_bf16.join(' ')\")"],
          "cflags_cc": ["-march=armv8.2-a+bf16"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-march=armv8.2-a+bf16"]}
        }
      ]
    }]
  ]
}
