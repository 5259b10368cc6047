/* version.h - the project version and the formats' version numbers. */
#ifndef GPN_VERSION_H
#define GPN_VERSION_H

#define GPN_VERSION "0.1.0"

#endif
