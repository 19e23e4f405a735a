// Loads libxml2 with dlopen at the first XML-RPC request, and wraps the reader calls Minder
// makes. The pointers are typed from libxml2's own declarations, so a signature that changes
// fails the build, not a request.
#define _GNU_SOURCE
#include "xml_reader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Debian's libxml2 is built with ICU, so its encoding.h includes ICU's headers. Nothing here
// needs ICU (Minder reads UTF-8 only and never touches an encoding handler), so they stay out;
// what changes is only the declared end of xmlCharEncodingHandler, a struct Minder never uses.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlreader.h>

_Static_assert(MN_XML_ELEMENT == XML_READER_TYPE_ELEMENT, "xmlReaderTypes");
_Static_assert(MN_XML_TEXT == XML_READER_TYPE_TEXT, "xmlReaderTypes");
_Static_assert(MN_XML_CDATA == XML_READER_TYPE_CDATA, "xmlReaderTypes");
_Static_assert(MN_XML_ENTITY_REFERENCE == XML_READER_TYPE_ENTITY_REFERENCE, "xmlReaderTypes");
_Static_assert(MN_XML_ENTITY == XML_READER_TYPE_ENTITY, "xmlReaderTypes");
_Static_assert(MN_XML_PROCESSING_INSTRUCTION == XML_READER_TYPE_PROCESSING_INSTRUCTION, "xmlReaderTypes");
_Static_assert(MN_XML_COMMENT == XML_READER_TYPE_COMMENT, "xmlReaderTypes");
_Static_assert(MN_XML_DOCUMENT_TYPE == XML_READER_TYPE_DOCUMENT_TYPE, "xmlReaderTypes");
_Static_assert(MN_XML_WHITESPACE == XML_READER_TYPE_WHITESPACE, "xmlReaderTypes");
_Static_assert(MN_XML_SIGNIFICANT_WHITESPACE == XML_READER_TYPE_SIGNIFICANT_WHITESPACE, "xmlReaderTypes");
_Static_assert(MN_XML_END_ELEMENT == XML_READER_TYPE_END_ELEMENT, "xmlReaderTypes");
_Static_assert(MN_XML_END_ENTITY == XML_READER_TYPE_END_ENTITY, "xmlReaderTypes");
_Static_assert(MN_XML_DECLARATION == XML_READER_TYPE_XML_DECLARATION, "xmlReaderTypes");

#define FUNCTIONS(X) \
    X(xmlInitParser) X(xmlReaderForMemory) X(xmlFreeTextReader) X(xmlTextReaderRead) \
    X(xmlTextReaderNodeType) X(xmlTextReaderDepth) X(xmlTextReaderIsEmptyElement) \
    X(xmlTextReaderConstName) X(xmlTextReaderConstValue) X(xmlTextReaderSetStructuredErrorHandler) \
    X(__xmlGenericError) X(__xmlGenericErrorContext) X(__xmlStructuredError) X(__xmlStructuredErrorContext)

#define POINTER(name) static __typeof__(name) *p_##name;
FUNCTIONS(POINTER)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512];

static void load(void) {
    void *library = dlopen("libxml2.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        snprintf(failure, sizeof failure, "cannot load libxml2: %s", dlerror());
        return;
    }
#define RESOLVE(name) \
    if (!(p_##name = (__typeof__(name) *)dlsym(library, #name))) { \
        snprintf(failure, sizeof failure, "libxml2 has no %s", #name); \
        return; \
    }
    FUNCTIONS(RESOLVE)
    // Before any thread shares libxml2.
    p_xmlInitParser();
}

const char *mn_xml_load(void) {
    pthread_once(&once, load);
    return failure[0] ? failure : NULL;
}

struct mn_xml_reader {
    xmlTextReaderPtr reader;
    mn_xml_error_fn on_error;
    void *context;
};

static void structured_error(void *user, xmlErrorPtr error) {
    struct mn_xml_reader *r = user;
    if (error && error->level >= XML_ERR_ERROR) r->on_error(r->context, error->line, error->message ? error->message : "error");
}

mn_xml_reader *mn_xml_reader_new(const char *bytes, int size, mn_xml_error_fn on_error, void *context) {
    struct mn_xml_reader *r = malloc(sizeof *r);
    if (!r) return NULL;
    // Deliberately absent: NOENT (entity expansion), DTDLOAD, DTDATTR, DTDVALID (reading
    // DTDs) and HUGE (libxml2's own size and depth limits stay).
    int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC;
    r->reader = p_xmlReaderForMemory(bytes, size, NULL, NULL, options);
    if (!r->reader) {
        free(r);
        return NULL;
    }
    r->on_error = on_error;
    r->context = context;
    p_xmlTextReaderSetStructuredErrorHandler(r->reader, structured_error, r);
    return r;
}

void mn_xml_reader_free(mn_xml_reader *r) {
    p_xmlFreeTextReader(r->reader);
    free(r);
}

int mn_xml_read(mn_xml_reader *r) { return p_xmlTextReaderRead(r->reader); }
int mn_xml_node_type(mn_xml_reader *r) { return p_xmlTextReaderNodeType(r->reader); }
int mn_xml_depth(mn_xml_reader *r) { return p_xmlTextReaderDepth(r->reader); }
int mn_xml_is_empty_element(mn_xml_reader *r) { return p_xmlTextReaderIsEmptyElement(r->reader); }
const unsigned char *mn_xml_name(mn_xml_reader *r) { return p_xmlTextReaderConstName(r->reader); }

const unsigned char *mn_xml_value(mn_xml_reader *r, unsigned long *length) {
    const xmlChar *value = p_xmlTextReaderConstValue(r->reader);
    *length = value ? strlen((const char *)value) : 0;
    return value;
}

static void ignore_generic(void *context, const char *message, ...) {
    (void)context;
    (void)message;
}

static void ignore_structured(void *context, xmlErrorPtr error) {
    (void)context;
    (void)error;
}

// The handlers are per-thread state in a threaded libxml2: no other thread is touched.
mn_xml_handlers mn_xml_silence(void) {
    mn_xml_handlers saved = {
        (void *)*p___xmlGenericError(), *p___xmlGenericErrorContext(),
        (void *)*p___xmlStructuredError(), *p___xmlStructuredErrorContext(),
    };
    *p___xmlGenericError() = ignore_generic;
    *p___xmlGenericErrorContext() = NULL;
    *p___xmlStructuredError() = ignore_structured;
    *p___xmlStructuredErrorContext() = NULL;
    return saved;
}

void mn_xml_restore(mn_xml_handlers saved) {
    *p___xmlGenericError() = (xmlGenericErrorFunc)saved.generic;
    *p___xmlGenericErrorContext() = saved.generic_context;
    *p___xmlStructuredError() = (xmlStructuredErrorFunc)saved.structured;
    *p___xmlStructuredErrorContext() = saved.structured_context;
}
