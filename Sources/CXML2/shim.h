// libxml2 for MinderXMLRPC: the reader API, and a way to keep libxml2's messages off stderr.
#ifndef MINDER_CXML2_SHIM_H
#define MINDER_CXML2_SHIM_H

// Debian's libxml2 is built with ICU, so its encoding.h includes ICU's headers. A Swift module
// that sees this one and Foundation (which brings its own ICU) would then meet two definitions of
// every ICU type, and clang refuses that, depending on the order modules are built in. Nothing
// here needs ICU (Minder reads UTF-8 only and never touches an encoding handler), so its headers
// stay out; what changes is only the declared end of xmlCharEncodingHandler (two converter
// pointers), a struct Minder never allocates or reads.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED

#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlerror.h>
#include <libxml/globals.h>

static void minder_xml_ignore_generic(void *ctx, const char *msg, ...) { (void)ctx; (void)msg; }
static void minder_xml_ignore_structured(void *ctx, xmlErrorPtr error) { (void)ctx; (void)error; }

/// The calling thread's libxml2 error handlers. Some messages (failed encoding conversions)
/// come with no parser context, so the reader's own handler never sees them and libxml2
/// would print them to stderr.
typedef struct {
    xmlGenericErrorFunc generic;
    void *genericContext;
    xmlStructuredErrorFunc structured;
    void *structuredContext;
} minder_xml_handlers;

/// Silences libxml2 on this thread and returns what was there, for minder_xml_restore.
/// The handlers are per-thread state in a threaded libxml2: no other thread is touched.
static inline minder_xml_handlers minder_xml_silence(void) {
    minder_xml_handlers saved = {
        xmlGenericError, xmlGenericErrorContext, xmlStructuredError, xmlStructuredErrorContext
    };
    xmlGenericError = minder_xml_ignore_generic;
    xmlGenericErrorContext = NULL;
    xmlStructuredError = minder_xml_ignore_structured;
    xmlStructuredErrorContext = NULL;
    return saved;
}

static inline void minder_xml_restore(minder_xml_handlers saved) {
    xmlGenericError = saved.generic;
    xmlGenericErrorContext = saved.genericContext;
    xmlStructuredError = saved.structured;
    xmlStructuredErrorContext = saved.structuredContext;
}

#endif
