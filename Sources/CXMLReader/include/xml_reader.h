// libxml2's streaming reader for MinderXMLRPC, loaded at its first use. A minderd that never
// answers an XML-RPC request never maps libxml2 (and the ICU, zlib and liblzma it brings, about
// 1 MB resident), and one on a system without libxml2 still runs, refusing XML-RPC requests.
#ifndef MINDER_XML_READER_H
#define MINDER_XML_READER_H

/// A libxml2 xmlTextReader.
typedef struct mn_xml_reader mn_xml_reader;

/// Loads and initialises libxml2 once, from any thread. NULL when it is ready, otherwise why not.
const char *mn_xml_load(void);

/// Called for each error (not warning) the reader meets, with its line and libxml2's message.
typedef void (*mn_xml_error_fn)(void *context, int line, const char *message);

/// A reader over `size` bytes at `bytes`, read in place (they must outlive it): no network, no
/// DTD, no entity expansion, and UTF-8 whatever the declaration says. NULL if libxml2 refuses.
/// Needs mn_xml_load() to have returned NULL.
mn_xml_reader *mn_xml_reader_new(const char *bytes, int size, mn_xml_error_fn on_error, void *context);
void mn_xml_reader_free(mn_xml_reader *reader);
/// 1 at a node, 0 at the end, -1 on an error.
int mn_xml_read(mn_xml_reader *reader);
int mn_xml_node_type(mn_xml_reader *reader);
int mn_xml_depth(mn_xml_reader *reader);
int mn_xml_is_empty_element(mn_xml_reader *reader);
/// UTF-8 owned by the reader, valid until the next read; NULL when absent. The name is
/// NUL-terminated; the value's length is stored in `length`.
const unsigned char *mn_xml_name(mn_xml_reader *reader);
const unsigned char *mn_xml_value(mn_xml_reader *reader, unsigned long *length);

/// The node types Minder tells apart (libxml2's xmlReaderTypes; checked against it when built).
enum {
    MN_XML_ELEMENT = 1,
    MN_XML_TEXT = 3,
    MN_XML_CDATA = 4,
    MN_XML_ENTITY_REFERENCE = 5,
    MN_XML_ENTITY = 6,
    MN_XML_PROCESSING_INSTRUCTION = 7,
    MN_XML_COMMENT = 8,
    MN_XML_DOCUMENT_TYPE = 10,
    MN_XML_WHITESPACE = 13,
    MN_XML_SIGNIFICANT_WHITESPACE = 14,
    MN_XML_END_ELEMENT = 15,
    MN_XML_END_ENTITY = 16,
    MN_XML_DECLARATION = 17,
};

/// The calling thread's libxml2 error handlers, as mn_xml_silence found them.
typedef struct {
    void *generic, *generic_context, *structured, *structured_context;
} mn_xml_handlers;

/// Silences libxml2 on this thread and returns what was there, for mn_xml_restore. Some messages
/// (failed encoding conversions) come with no parser context, so the reader's own handler never
/// sees them and libxml2 would print them to stderr. Needs mn_xml_load() to have returned NULL.
mn_xml_handlers mn_xml_silence(void);
void mn_xml_restore(mn_xml_handlers saved);

#endif
