// Set by a stub launch function (stubs.cu) when its kernel file was not built; the addon turns it
// into a JS Error after the call and clears it. Defined in device.cu so it exists in every build.
#pragma once
namespace handgrad {
extern const char* stubError;
}
